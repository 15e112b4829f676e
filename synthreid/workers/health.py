"""Healthcheck of a farm worker container: healthy when a worker process running on this host
(container hostname) beat its heartbeat in the catalog within the last lease; it beats every
lease/3 s, so three missed beats (a hung, dead or disconnected worker) make it unhealthy.

``python -m synthreid.workers.health`` (docker-compose.yml's worker healthcheck): exit 0, or 1
with the reason on stderr; the catalog is the one of ``SYNTHREID_DATABASE_URL`` (never upgraded).
"""

from __future__ import annotations

import socket
import sys

from synthreid.errors import SynthreidError
from synthreid.workers.catalog import Catalog, open_catalog
from synthreid.workers.config import FarmConfig


def check_worker(catalog: Catalog, host: str, within: float) -> str | None:
    """None when a live worker of ``host`` beat within ``within`` seconds, else the reason."""
    live = [w for w in catalog.live_workers(within) if w["host"] == host]
    if live:
        return None
    return f"no worker on host {host!r} has beaten its heartbeat in the last {within:.0f} s"


def main(argv: list[str] | None = None) -> int:
    try:
        config = FarmConfig.from_env()
        catalog = open_catalog(config, auto_upgrade=False, retry_for=min(config.lease_seconds / 3, 5.0))
        try:
            reason = check_worker(catalog, socket.gethostname(), config.lease_seconds)
        finally:
            catalog.close()
    except SynthreidError as exc:
        reason = f"catalog unreachable: {exc}"
    if reason:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
