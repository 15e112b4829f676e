-- Planned rows cost the server about half as much CPU to store: ~580 -> ~300 us per character
-- of 10 images (scratch measurement, backend CPU from /proc; perf/planning.py reports the
-- enqueue rate). Nothing queries inside these three columns, so JSON (the text, checked to be
-- JSON, kept as written) serves as well as JSONB, which parses and re-encodes every document.
-- The conversion rewrites each table once, on upgrade.
ALTER TABLE images ALTER COLUMN params TYPE JSON USING params::json;

ALTER TABLE characters ALTER COLUMN attributes TYPE JSON USING attributes::json;

ALTER TABLE tasks ALTER COLUMN payload TYPE JSON USING payload::json;

-- An image's dataset is its character's: the character_id key already proves the row's
-- character exists and removes the image with it (characters cascade from datasets), so the
-- second foreign key only cost one more index probe per image row (~90 us per character).
ALTER TABLE images DROP CONSTRAINT IF EXISTS images_dataset_id_fkey;
