-- Core tables of design §3. Tokens: {ID} primary key column type, {JSON} JSON column type,
-- {TIME} epoch seconds (float). Statements are separated by ';' at line ends.
CREATE TABLE datasets (
    id {ID},
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL DEFAULT 'rendered' CHECK (kind IN ('rendered', 'refined', 'imported')),
    spec {JSON} NOT NULL,
    parent_id BIGINT REFERENCES datasets(id),
    refiner_run_id BIGINT,
    characters INTEGER NOT NULL DEFAULT 0,
    images_per_character INTEGER NOT NULL DEFAULT 0,
    created_at {TIME} NOT NULL,
    finalized_at {TIME}
);

CREATE TABLE characters (
    id {ID},
    dataset_id BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    seed BIGINT NOT NULL,
    attributes {JSON} NOT NULL,
    UNIQUE (dataset_id, idx)
);

CREATE TABLE images (
    id {ID},
    dataset_id BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    character_id BIGINT NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    camid INTEGER NOT NULL,
    stem TEXT NOT NULL,
    params {JSON} NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    path TEXT,
    mask_path TEXT,
    bbox {JSON},
    checksum TEXT,
    rendered_at {TIME},
    worker TEXT,
    UNIQUE (character_id, idx)
);

CREATE INDEX images_dataset_state ON images (dataset_id, state);

CREATE TABLE tasks (
    id {ID},
    kind TEXT NOT NULL,
    queue TEXT NOT NULL DEFAULT 'render',
    payload {JSON} NOT NULL,
    dataset_id BIGINT REFERENCES datasets(id) ON DELETE CASCADE,
    character_id BIGINT REFERENCES characters(id) ON DELETE CASCADE,
    n_images INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    not_before {TIME} NOT NULL DEFAULT 0,
    dispatched_at {TIME},
    lease_until {TIME},
    worker TEXT,
    last_error TEXT,
    created_at {TIME} NOT NULL,
    started_at {TIME},
    finished_at {TIME}
);

CREATE INDEX tasks_dataset_state ON tasks (dataset_id, state, finished_at);

CREATE INDEX tasks_state_lease ON tasks (state, lease_until);

CREATE INDEX tasks_state_not_before ON tasks (state, not_before);

CREATE TABLE runs (
    id {ID},
    kind TEXT NOT NULL,
    config {JSON} NOT NULL,
    inputs {JSON} NOT NULL,
    metrics {JSON},
    artifacts {JSON},
    created_at {TIME} NOT NULL,
    finished_at {TIME}
);
