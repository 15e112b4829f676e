"""Postgres catalog (the farm), through psycopg2. Claims use ``FOR UPDATE SKIP LOCKED``."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg2
import psycopg2.extras

from synthreid.workers.catalog.base import Catalog

MIGRATION_LOCK = 0x5E_11D  # advisory lock key serializing `db upgrade` runs


class PostgresCatalog(Catalog):
    tokens = {"ID": "BIGSERIAL PRIMARY KEY", "JSON": "JSONB", "TIME": "DOUBLE PRECISION"}
    skip_locked = "FOR UPDATE SKIP LOCKED"
    connection_errors = (psycopg2.OperationalError, psycopg2.InterfaceError)

    def __init__(self, url: str, retry_for: float = 30.0):
        self.url = url
        super().__init__(retry_for=retry_for)

    def _connect(self):
        conn = psycopg2.connect(self.url, connect_timeout=5, application_name="synthreid",
                                keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
        conn.autocommit = False
        return conn

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _bulk_insert(self, cur, table: str, cols: Sequence[str], rows: list[tuple]) -> None:
        psycopg2.extras.execute_values(cur, f"INSERT INTO {table} ({', '.join(cols)}) VALUES %s", rows,
                                       page_size=2000)

    def _lock_migrations(self, cur) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))

    def _has_table(self, cur, name: str) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        return bool(cur.fetchone()[0])

    def backend_pid(self) -> int | None:
        return self.conn.get_backend_pid() if self.conn is not None else None

    def __repr__(self) -> str:
        return f"PostgresCatalog({self.url.split('@')[-1]})"
