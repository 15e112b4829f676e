"""The catalog: the farm's source of truth (design §3-4), SQLite or Postgres behind one interface.

``open_catalog(config)`` picks the implementation; the drivers are imported lazily.
"""

from __future__ import annotations

from synthreid.workers.catalog.base import Catalog
from synthreid.workers.catalog.values import CatalogError, CatalogUnavailable, RunState, Task, TaskState


def open_catalog(config, *, auto_upgrade: bool = True, retry_for: float = 30.0) -> Catalog:
    """Connect to the configured catalog; apply pending migrations when ``auto_upgrade``.

    ``retry_for``: seconds a lost connection is retried (with backoff) before an operation
    raises CatalogUnavailable; workers pass ``float('inf')``.
    """
    if config.uses_postgres:
        from synthreid.workers.catalog.postgres import PostgresCatalog

        cat: Catalog = PostgresCatalog(config.database_url, retry_for=retry_for)
    else:
        from synthreid.workers.catalog.sqlite import SQLiteCatalog

        cat = SQLiteCatalog(config.sqlite_path, retry_for=retry_for)
    if auto_upgrade and cat.schema_version() < cat.latest_version():
        cat.upgrade()
    return cat


__all__ = ["Catalog", "CatalogError", "CatalogUnavailable", "RunState", "Task", "TaskState", "open_catalog"]
