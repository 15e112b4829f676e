"""Farm configuration from the environment.

``SYNTHREID_DATABASE_URL``  postgresql://user:pass@host:5432/db; unset = SQLite catalog at
                            ``DATA_DIR/catalog.sqlite3`` (the embedded default)
``SYNTHREID_REDIS_URL``     redis://:pass@host:6379/0; unset = local dispatch (workers poll the catalog)
``SYNTHREID_DATA_DIR``      root of the shared storage; datasets live in ``DATA_DIR/datasets/NAME``
                            (default ``./synthreid-data``)
``SYNTHREID_LEASE_SECONDS`` task lease, seconds (default 60); a crashed worker's task is re-run after it
``SYNTHREID_MAX_ATTEMPTS``  attempts per task before it stays failed (default 3)
``SYNTHREID_RETRY_BACKOFF`` first retry delay, seconds, doubled per attempt (default 10)
``SYNTHREID_REAPER_INTERVAL`` seconds between reaper passes inside each worker (default 10)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from synthreid.dataset import check_dataset_name
from synthreid.errors import SynthreidError


class ConfigError(SynthreidError):
    """An environment setting is malformed; the message names the variable."""


def _number(env, key: str, default: float, lo: float) -> float:
    raw = env.get(key, "")
    if raw == "":
        return default
    try:
        v = float(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r}: expected a number") from None
    if v < lo:
        raise ConfigError(f"{key}={raw!r}: must be >= {lo}")
    return v


@dataclass(frozen=True)
class FarmConfig:
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path("synthreid-data")
    lease_seconds: float = 60.0
    max_attempts: int = 3
    retry_backoff: float = 10.0
    reaper_interval: float = 10.0

    @classmethod
    def from_env(cls, env=None) -> FarmConfig:
        env = os.environ if env is None else env
        db = env.get("SYNTHREID_DATABASE_URL") or None
        if db and not db.startswith(("postgresql://", "postgres://", "sqlite:///")):
            raise ConfigError(f"SYNTHREID_DATABASE_URL: expected postgresql://... or sqlite:///PATH, got "
                              f"{db.split('://')[0]!r}://...")
        redis = env.get("SYNTHREID_REDIS_URL") or None
        if redis and not redis.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("SYNTHREID_REDIS_URL: expected redis://[:password@]host:port/db")
        return cls(
            database_url=db,
            redis_url=redis,
            data_dir=Path(env.get("SYNTHREID_DATA_DIR") or "synthreid-data").expanduser().resolve(),
            lease_seconds=_number(env, "SYNTHREID_LEASE_SECONDS", 60.0, 1.0),
            max_attempts=int(_number(env, "SYNTHREID_MAX_ATTEMPTS", 3, 1)),
            retry_backoff=_number(env, "SYNTHREID_RETRY_BACKOFF", 10.0, 0.0),
            reaper_interval=_number(env, "SYNTHREID_REAPER_INTERVAL", 10.0, 0.1),
        )

    def replace(self, **kw) -> FarmConfig:
        return replace(self, **kw)

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    def dataset_root(self, name: str) -> Path:
        """Folder of dataset ``name``; the name is checked so no path escapes the data directory."""
        return self.datasets_dir / check_dataset_name(name)

    @property
    def sqlite_path(self) -> Path:
        if self.database_url and self.database_url.startswith("sqlite:///"):
            return Path(self.database_url[len("sqlite:///"):])
        return self.data_dir / "catalog.sqlite3"

    @property
    def uses_postgres(self) -> bool:
        return bool(self.database_url) and not self.database_url.startswith("sqlite:///")
