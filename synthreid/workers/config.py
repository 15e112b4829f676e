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
``SYNTHREID_PLAN_PROCESSES`` processes planning an ``enqueue`` in parallel (default: usable CPUs, at most 16)
``SYNTHREID_PLAN_WRITERS``  Postgres connections storing an ``enqueue``'s batches at once, committed
                            in order (default: one per 4 planning processes, at least 2; SQLite
                            always uses one)

Passwords in the URLs are never printed: ``mask_url`` replaces them, and ``SecretFilter``
removes them from every log line (e.g. from a driver's error message).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from synthreid.cliutil import available_cores
from synthreid.dataset import check_dataset_name
from synthreid.errors import SynthreidError


class ConfigError(SynthreidError):
    """An environment setting is malformed; the message names the variable."""


MASK = "***"


def url_password(url: str | None) -> str | None:
    """The password of a ``scheme://user:pass@host...`` URL (percent-decoded), or None."""
    if not url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def mask_url(url: str | None) -> str:
    """``url`` with its password replaced by ``***`` (parsed with urllib, never by hand)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return f"{url.split(':', 1)[0]}://{MASK}"  # unparsable: show nothing but the scheme
    if parts.password is None:
        return url
    user = parts.username or ""
    netloc = f"{user}:{MASK}@{host or ''}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact(text: str, secrets) -> str:
    """``text`` with every secret (as given, percent-encoded and -decoded) replaced by ``***``."""
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, unquote(secret), quote(secret, safe="")}:
            if len(form) >= 3:  # a 1-2 character password would blank out ordinary words
                text = text.replace(form, MASK)
    return text


def _check_url(key: str, url: str) -> None:
    """Refuse what libpq/redis-py would misparse (and then print part of): an unencoded '@'."""
    scheme, _, rest = url.partition("://")
    netloc = rest.split("/", 1)[0]
    if netloc.count("@") > 1:
        raise ConfigError(
            f"{key}: the user or password contains '@' (or '/'); percent-encode it "
            f"('@' as %40, '/' as %2F), e.g. {scheme}://user:{MASK}@host:port/..."
        )
    try:
        _ = urlsplit(url).port
    except ValueError:
        raise ConfigError(
            f"{key}: cannot parse {mask_url(url)!r}: expected {scheme}://user:password@host:port/..."
        ) from None


class SecretFilter(logging.Filter):
    """Removes the given secrets from every record passing through a handler."""

    def __init__(self, secrets):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            msg = record.getMessage()
            clean = redact(msg, self.secrets)
            if clean != msg or record.exc_info:
                if record.exc_info:
                    clean += "\n" + redact(logging.Formatter().formatException(record.exc_info), self.secrets)
                    record.exc_info, record.exc_text = None, None
                record.msg, record.args = clean, None
        return True


def install_secret_filter(config: FarmConfig) -> None:
    """Keep the catalog's and the queue's passwords out of every log line of this process."""
    secrets = [p for p in (url_password(config.database_url), url_password(config.redis_url)) if p]
    if not secrets:
        return
    handlers = logging.getLogger().handlers
    for h in handlers:
        if not any(isinstance(f, SecretFilter) for f in h.filters):
            h.addFilter(SecretFilter(secrets))


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


MAX_DEFAULT_PLAN_PROCESSES = 16
PLAN_PROCESSES_PER_WRITER = 4


def default_plan_processes(cpus: int | None) -> int:
    """Planning processes of an ``enqueue`` when ``SYNTHREID_PLAN_PROCESSES`` is unset: one
    per usable CPU (``cliutil.available_cores``: affinity set and cgroup quota), at most 16.
    Planning takes ~1.3 ms of CPU per character and the enqueue process ~0.07 ms, so past ~16
    planning processes the enqueue process, not planning, bounds the rate (docs/farm.md)."""
    return max(1, min(cpus or 1, MAX_DEFAULT_PLAN_PROCESSES))


def default_plan_writers(processes: int) -> int:
    """Postgres writer connections when ``SYNTHREID_PLAN_WRITERS`` is unset: one per 4
    planning processes, at least 2. A writer's backend spends ~0.3 ms per character
    (~3,000 characters/s at most), about what 4 planning processes produce."""
    return max(2, -(-processes // PLAN_PROCESSES_PER_WRITER))


@dataclass(frozen=True)
class FarmConfig:
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path("synthreid-data")
    lease_seconds: float = 60.0
    max_attempts: int = 3
    retry_backoff: float = 10.0
    reaper_interval: float = 10.0
    plan_processes: int = 1
    plan_writers: int = 1
    # The embedded farm of `synthreid render`: its one dataset's folder, whatever the name.
    dataset_dir: Path | None = None

    @classmethod
    def from_env(cls, env=None) -> FarmConfig:
        env = os.environ if env is None else env
        db = env.get("SYNTHREID_DATABASE_URL") or None
        if db and not db.startswith(("postgresql://", "postgres://", "sqlite:///")):
            raise ConfigError(
                f"SYNTHREID_DATABASE_URL: expected postgresql://... or sqlite:///PATH, got "
                f"{db.split('://')[0]!r}://..."
            )
        if db and not db.startswith("sqlite:///"):
            _check_url("SYNTHREID_DATABASE_URL", db)
        redis = env.get("SYNTHREID_REDIS_URL") or None
        if redis and not redis.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("SYNTHREID_REDIS_URL: expected redis://[:password@]host:port/db")
        if redis and not redis.startswith("unix://"):
            _check_url("SYNTHREID_REDIS_URL", redis)
        processes = int(
            _number(env, "SYNTHREID_PLAN_PROCESSES", default_plan_processes(available_cores()), 1)
        )
        return cls(
            database_url=db,
            redis_url=redis,
            data_dir=Path(env.get("SYNTHREID_DATA_DIR") or "synthreid-data").expanduser().resolve(),
            lease_seconds=_number(env, "SYNTHREID_LEASE_SECONDS", 60.0, 1.0),
            max_attempts=int(_number(env, "SYNTHREID_MAX_ATTEMPTS", 3, 1)),
            retry_backoff=_number(env, "SYNTHREID_RETRY_BACKOFF", 10.0, 0.0),
            reaper_interval=_number(env, "SYNTHREID_REAPER_INTERVAL", 10.0, 0.1),
            plan_processes=processes,
            plan_writers=int(_number(env, "SYNTHREID_PLAN_WRITERS", default_plan_writers(processes), 1)),
        )

    def replace(self, **kw) -> FarmConfig:
        return replace(self, **kw)

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    def dataset_root(self, name: str) -> Path:
        """Folder of dataset ``name``; the name is checked so no path escapes the data directory.
        An embedded farm (``dataset_dir`` set) has one dataset, in that folder."""
        check_dataset_name(name)
        if self.dataset_dir is not None:
            return self.dataset_dir
        return self.datasets_dir / name

    @property
    def sqlite_path(self) -> Path:
        if self.database_url and self.database_url.startswith("sqlite:///"):
            return Path(self.database_url[len("sqlite:///") :])
        return self.data_dir / "catalog.sqlite3"

    @property
    def uses_postgres(self) -> bool:
        url = self.database_url or ""
        return bool(url) and not url.startswith("sqlite:///")
