-- Re-runnable finalize: a worker claims a dataset's finalize (finalizing_at, expires after a
-- lease), records its error when it fails; any worker repairs a dataset whose tasks are all
-- finished and whose finalized_at is still NULL.
ALTER TABLE datasets ADD COLUMN finalizing_at {TIME};

ALTER TABLE datasets ADD COLUMN finalize_error TEXT;
