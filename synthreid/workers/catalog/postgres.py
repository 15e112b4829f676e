"""Postgres catalog (the farm), through psycopg2. Claims use ``FOR UPDATE SKIP LOCKED``; bulk
rows go in with COPY."""

from __future__ import annotations

import io
from collections.abc import Sequence

import psycopg2
import psycopg2.errors
import psycopg2.extras

from synthreid.workers.catalog.base import Catalog, CatalogError, CatalogFull
from synthreid.workers.config import mask_url, redact, url_password

MIGRATION_LOCK = 0x5E_11D  # advisory lock key serializing `db upgrade` runs


class PostgresCatalog(Catalog):
    tokens = {"ID": "BIGSERIAL PRIMARY KEY", "JSON": "JSONB", "TIME": "DOUBLE PRECISION"}
    dialect = "postgres"
    concurrent_writes = True
    skip_locked = "FOR UPDATE SKIP LOCKED"
    connection_errors = (psycopg2.OperationalError, psycopg2.InterfaceError)
    integrity_errors = (psycopg2.IntegrityError,)

    def __init__(self, url: str, retry_for: float = 30.0):
        self.url = url
        self.where = f"catalog {mask_url(url)}"
        self._secrets = [p for p in (url_password(url),) if p]
        super().__init__(retry_for=retry_for)

    def clone(self) -> PostgresCatalog:
        return PostgresCatalog(self.url, retry_for=self.retry_for)

    def _connect(self):
        conn = psycopg2.connect(
            self.url,
            connect_timeout=5,
            application_name="synthreid",
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        conn.autocommit = False
        return conn

    def _clean(self, text) -> str:
        return redact(str(text).strip(), self._secrets)

    def _translate(self, exc):
        if isinstance(exc, psycopg2.errors.DiskFull):
            return CatalogFull(f"{self.where}: the database server's disk is full ({self._clean(exc)})")
        if isinstance(exc, psycopg2.errors.InsufficientResources):
            return CatalogError(f"{self.where}: out of resources ({self._clean(exc)})")
        return None

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _bulk_insert(self, cur, table: str, cols: Sequence[str], rows: list[tuple]) -> None:
        """COPY the rows in, in COPY's text format (``copy_text``), encoded once: from a text
        file psycopg2 encodes every 8 KB chunk itself (22 vs 4 us of CPU per planned character)."""
        if not rows:
            return
        data = io.BytesIO(copy_text(rows).encode(psycopg2.extensions.encodings[self.conn.encoding]))
        cur.copy_expert(f"COPY {table} ({', '.join(cols)}) FROM STDIN", data)

    def _lock_migrations(self, cur) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))

    def _has_table(self, cur, name: str) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        return bool(cur.fetchone()[0])

    def backend_pid(self) -> int | None:
        return self.conn.get_backend_pid() if self.conn is not None else None

    def __repr__(self) -> str:
        return f"PostgresCatalog({mask_url(self.url)})"


_COPY_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(v) -> str:
    if v is None:
        return "\\N"
    t = type(v)
    if t is int or t is float:
        return repr(v)  # shortest round-trip digits; 'inf'/'nan' are read as float8 too
    if t is bool:
        return "t" if v else "f"
    text = str(v)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.translate(_COPY_SPECIAL)
    return text


def copy_text(rows) -> str:
    """``rows`` (tuples of None, bool, int, float, str) as the data of ``COPY ... FROM STDIN`` in
    its text format: tab-separated, ``\\N`` for NULL, backslash, tab, newline and carriage
    return escaped. 4-5x faster than the csv module with quoting: our JSON needs no escaping.

    Converted column by column: a column of only ints (bools excluded) or only strings with
    nothing to escape is made text by C loops (``map``; one ``in`` over the joined column),
    several times faster per field than ``_copy_field``, which takes every other column."""
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return ""
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError(f"copy_text: rows of different lengths (the first has {width} fields)")
    if width == 0:
        return "\n" * len(rows)
    columns = [_copy_column(col) for col in zip(*rows, strict=True)]
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


def _copy_column(col: tuple) -> Sequence[str]:
    kinds = set(map(type, col))
    if kinds == {int}:
        return list(map(int.__repr__, col))
    if kinds == {str}:
        joined = "".join(col)
        if not ("\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined):
            return col
    return [_copy_field(v) for v in col]
