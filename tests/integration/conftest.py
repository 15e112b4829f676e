"""Fixtures of the farm's integration tests: a fresh Postgres database and a private Redis db
per test, a tiny spec, and worker subprocesses started with the docker-compose command.

The servers are required: when one is down the tests FAIL with a message (CI has them).
Override their addresses with SYNTHREID_TEST_PG (admin URL) and SYNTHREID_TEST_REDIS.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("SYNTHREID_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("SYNTHREID_TEST_REDIS", "redis://127.0.0.1:6379")
_redis_dbs = itertools.cycle(range(9, 16))

TINY_SPEC = """
name = "{name}"
seed = 21
characters = {characters}
images_per_character = {images}
[camera]
resolution = [480, 270]
distance = [7.0, 8.0]
polar = [60.0, 88.0]
[output]
size = [32, 64]
[render]
samples = 2
denoise = false
max_bounces = 1
threads = 1
[appearance]
textures = ["plain"]
[splits]
test = 1
val = 1
"""


def compose_service_command(service: str) -> list[str]:
    """The command a docker-compose.yml service runs, with `synthreid` mapped to this venv's script."""
    import yaml

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    cmd = list(compose["services"][service]["command"])
    if cmd[0] == "synthreid":
        cmd = [str(Path(sys.executable).with_name("synthreid")), *cmd[1:]]
    return cmd


@pytest.fixture
def pg_url():
    import psycopg2

    name = f"synthreid_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(PG_ADMIN, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for integration tests ({PG_ADMIN}): {exc}", pytrace=False)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture
def redis_url():
    import redis

    url = f"{REDIS_BASE}/{next(_redis_dbs)}"
    r = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        r.flushdb()  # only this test's own db number
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is required for integration tests ({REDIS_BASE}): {exc}", pytrace=False)
    yield url
    r.flushdb()
    r.close()


@pytest.fixture
def farm(tmp_path, pg_url, redis_url):
    return Farm(tmp_path, pg_url, redis_url)


class Farm:
    """Runs CLI commands and workers against one test's database, Redis db and data dir."""

    def __init__(self, tmp_path: Path, pg_url: str, redis_url: str):
        self.tmp = tmp_path
        self.pg_url, self.redis_url = pg_url, redis_url
        self.data = tmp_path / "data"
        self.env = {
            **os.environ,
            "SYNTHREID_DATABASE_URL": pg_url,
            "SYNTHREID_REDIS_URL": redis_url,
            "SYNTHREID_DATA_DIR": str(self.data),
            "SYNTHREID_LEASE_SECONDS": "3",
            "SYNTHREID_REAPER_INTERVAL": "0.5",
            "SYNTHREID_RETRY_BACKOFF": "0.2",
            "SYNTHREID_MAX_ATTEMPTS": "3",
            "PYTHONUNBUFFERED": "1",
        }
        self.procs: list[subprocess.Popen] = []

    def spec(self, name="tiny", characters=4, images=2) -> Path:
        path = self.tmp / f"{name}.toml"
        path.write_text(TINY_SPEC.format(name=name, characters=characters, images=images))
        return path

    def cli(self, *args, check=True, **env) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "synthreid.cli", *map(str, args)]
        res = subprocess.run(
            cmd, env={**self.env, **env}, capture_output=True, text=True, timeout=120, cwd=self.tmp
        )
        if check and res.returncode != 0:
            raise AssertionError(f"{cmd} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    def migrate(self):
        return subprocess.run(
            compose_service_command("migrate"),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.tmp,
            check=True,
        )

    def worker(self, *extra, **env) -> subprocess.Popen:
        log = open(self.tmp / f"worker{len(self.procs)}.log", "w")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(
            [*compose_service_command("worker"), *extra],
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp,
        )
        p.log_path = log.name
        self.procs.append(p)
        return p

    def wait(self, proc: subprocess.Popen, timeout: float = 150) -> str:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(
                f"worker did not finish in {timeout} s:\n{Path(proc.log_path).read_text()[-3000:]}"
            ) from None
        return Path(proc.log_path).read_text()

    def catalog(self):
        from synthreid.workers.catalog import open_catalog
        from synthreid.workers.config import FarmConfig

        return open_catalog(FarmConfig.from_env(self.env), auto_upgrade=False)

    def query(self, sql, params=()):
        import psycopg2

        with psycopg2.connect(self.pg_url) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall() if cur.description else None
        conn.close()
        return rows

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture(autouse=True)
def _cleanup_workers(request):
    yield
    farm = request.node.funcargs.get("farm")
    if farm is not None:
        farm.kill_all()


def wait_for(cond, timeout=60.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
