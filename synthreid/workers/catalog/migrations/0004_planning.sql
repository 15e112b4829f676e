-- Streaming enqueue: a dataset is planned in batches, each committed with its tasks. While
-- planning, planned_characters counts the characters in the catalog; NULL = all of them
-- (also every dataset written before this migration). A dataset is finalized only then.
ALTER TABLE datasets ADD COLUMN planned_characters INTEGER;

-- The reaper looks for tasks sent to the queue long ago and still pending (their job may be lost).
CREATE INDEX tasks_state_dispatched ON tasks (state, dispatched_at);
