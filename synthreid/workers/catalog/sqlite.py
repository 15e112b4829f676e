"""SQLite catalog: the embedded default (one file in the data directory, WAL mode).

Writers serialize on SQLite's database lock (``BEGIN IMMEDIATE``), which is what makes a
claim atomic here (Postgres uses ``FOR UPDATE SKIP LOCKED`` instead).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from synthreid.workers.catalog.base import Catalog


class SQLiteCatalog(Catalog):
    tokens = {"ID": "INTEGER PRIMARY KEY AUTOINCREMENT", "JSON": "TEXT", "TIME": "REAL"}
    connection_errors = ()  # a local file does not drop its connection

    def __init__(self, path: str | Path, retry_for: float = 30.0):
        self.path = Path(path)
        super().__init__(retry_for=retry_for)

    def _connect(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=60000")
        return conn

    def _begin(self, cur) -> None:
        cur.execute("BEGIN IMMEDIATE")

    def _has_table(self, cur, name: str) -> bool:
        return cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None

    def __repr__(self) -> str:
        return f"SQLiteCatalog({self.path})"
