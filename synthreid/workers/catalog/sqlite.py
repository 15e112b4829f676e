"""SQLite catalog: the embedded default (one file in the data directory, WAL mode).

Writers serialize on SQLite's database lock (``BEGIN IMMEDIATE``), which is what makes a
claim atomic here (Postgres uses ``FOR UPDATE SKIP LOCKED`` instead). A full disk or a
database that cannot grow is reported as CatalogFull, a lock held too long as CatalogError.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from synthreid.workers.catalog.base import Catalog, CatalogError, CatalogFull

SQLITE_FULL = 13
SQLITE_IOERR = 10
SQLITE_BUSY = 5


class SQLiteCatalog(Catalog):
    tokens = {"ID": "INTEGER PRIMARY KEY AUTOINCREMENT", "JSON": "TEXT", "TIME": "REAL"}
    connection_errors = ()  # a local file does not drop its connection
    integrity_errors = (sqlite3.IntegrityError,)

    def __init__(self, path: str | Path, retry_for: float = 30.0):
        self.path = Path(path)
        self.where = f"catalog {self.path}"
        super().__init__(retry_for=retry_for)

    def _connect(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=60000")
        return conn

    def _translate(self, exc):
        if not isinstance(exc, sqlite3.OperationalError):
            return None
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code == SQLITE_FULL or "disk is full" in str(exc):
            return CatalogFull(f"{self.where}: disk full ({exc}); free space on {self.path.parent}")
        if code == SQLITE_IOERR:
            return CatalogError(f"{self.where}: disk I/O error ({exc}); is the disk full or gone?")
        if code == SQLITE_BUSY or "locked" in str(exc):
            return CatalogError(f"{self.where}: locked by another writer for more than 60 s ({exc})")
        return None

    def _begin(self, cur) -> None:
        cur.execute("BEGIN IMMEDIATE")

    def _has_table(self, cur, name: str) -> bool:
        return (
            cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
            is not None
        )

    def __repr__(self) -> str:
        return f"SQLiteCatalog({self.path})"
