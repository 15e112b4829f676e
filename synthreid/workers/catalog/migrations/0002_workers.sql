-- Live workers, for `synthreid status` (heartbeat every lease/3 seconds).
CREATE TABLE workers (
    name TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queues TEXT NOT NULL,
    started_at {TIME} NOT NULL,
    heartbeat_at {TIME} NOT NULL,
    task_id BIGINT,
    tasks_done INTEGER NOT NULL DEFAULT 0,
    stopped_at {TIME}
);

CREATE INDEX workers_heartbeat ON workers (heartbeat_at);
