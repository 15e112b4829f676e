-- Runs as farm tasks (gpu queue): a run is named after its folder DATA_DIR/runs/NAME, follows
-- the state of its latest task, and keeps progress and the last error for `synthreid status`.
ALTER TABLE runs ADD COLUMN name TEXT;

ALTER TABLE runs ADD COLUMN state TEXT NOT NULL DEFAULT 'done';

ALTER TABLE runs ADD COLUMN run_dir TEXT;

ALTER TABLE runs ADD COLUMN task_id BIGINT;

ALTER TABLE runs ADD COLUMN progress {JSON};

ALTER TABLE runs ADD COLUMN error TEXT;

ALTER TABLE runs ADD COLUMN updated_at {TIME};

CREATE UNIQUE INDEX runs_name ON runs (name);

CREATE UNIQUE INDEX runs_run_dir ON runs (run_dir);

CREATE INDEX runs_task ON runs (task_id);
