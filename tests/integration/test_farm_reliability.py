"""Farm reliability on the real Postgres and Redis: self-healing queues, hostile queue messages,
queue/kind isolation, stops with the catalog down, unique-name races, masked passwords, and
the memory bound of planning.

Workers are subprocesses running the docker-compose `worker` command (lease 3 s, reaper every
0.5 s, see conftest). Waits are for states; the bounds asserted are the documented ones.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import zlib

import pytest

from .conftest import wait_for

pytestmark = pytest.mark.integration

LEASE = 3.0  # SYNTHREID_LEASE_SECONDS of the Farm fixture


class TcpProxy:
    """Forwards 127.0.0.1:PORT to Postgres; ``close()`` is the database going away for its
    clients (connections cut, new ones refused)."""

    def __init__(self, host="127.0.0.1", port=5432):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.socks: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.listener.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


def redis_client(farm):
    import redis

    return redis.Redis.from_url(farm.redis_url)


def log_of(proc) -> str:
    with open(proc.log_path) as fh:
        return fh.read()


# ---- self-healing dispatch -----------------------------------------------------------------------
def test_redis_flushed_mid_run_heals_without_reconcile(farm):
    from synthreid.workers.dispatch import JOB_ID_PREFIX

    farm.migrate()
    farm.cli("enqueue", farm.spec(), "-q")
    tmp = farm.tmp / "worker-tmp"
    tmp.mkdir()
    w = farm.worker("--burst", TMPDIR=str(tmp))
    wait_for(
        lambda: farm.query("SELECT COUNT(*) FROM tasks WHERE state = 'done'")[0][0] >= 1,
        180,
        "a first finished task",
    )
    r = redis_client(farm)
    r.flushdb()  # FLUSHALL stand-in: only this test's own Redis db number
    waiting = farm.query("SELECT id FROM tasks WHERE state = 'pending'")
    assert waiting, "the flush should leave queued tasks without jobs"

    def healed():
        rows = farm.query("SELECT id FROM tasks WHERE state = 'pending'")
        return all(r.exists(f"rq:job:{JOB_ID_PREFIX}{i}") for (i,) in rows)

    # Documented bound: one lease (the tasks were queued long before) plus a reaper interval.
    wait_for(healed, 2 * LEASE, "the reaper to re-send the lost jobs")
    log = farm.wait(w, 300)
    assert w.returncode == 0, log[-3000:]
    assert "had lost their job" in log
    from .test_farm_pipeline import check_complete

    check_complete(farm)
    assert list(tmp.iterdir()) == [], "the worker left temp folders behind"


def test_a_job_popped_by_a_worker_killed_before_it_deleted_the_hash_is_sent_again(farm):
    """Found by scripts/battery.py (worker_sigkill_moments): a worker SIGKILLed between popping a
    job id from the queue and deleting its job hash left the hash behind; the reaper took the
    hash for a queued job and the task stayed pending forever (until `reconcile`)."""
    from synthreid.workers.dispatch import JOB_ID_PREFIX, RQDispatcher
    from synthreid.workers.reaper import heal

    farm.migrate()
    farm.cli("enqueue", farm.spec(characters=2, images=1), "-q")
    r = redis_client(farm)
    key = "rq:queue:synthreid-render"
    popped = r.lpop(key).decode()  # what the killed worker had done; its job hash stays
    assert popped.startswith(JOB_ID_PREFIX) and r.exists(f"rq:job:{popped}") and r.llen(key) == 1
    farm.query("UPDATE tasks SET dispatched_at = dispatched_at - 100 RETURNING id")  # queued long ago
    cat = farm.catalog()
    rq = RQDispatcher(farm.redis_url)
    try:
        assert heal(cat, rq, lease=LEASE) == 1
    finally:
        cat.close()
        rq.close()
    assert popped.encode() in r.lrange(key, 0, -1) and r.llen(key) == 2


def test_status_warns_when_queue_and_catalog_disagree(farm):
    farm.migrate()
    farm.cli("enqueue", farm.spec(characters=2, images=1), "-q")
    redis_client(farm).flushdb()
    # Tasks queued more than a lease ago and no worker running: nothing re-sends them yet.
    farm.query("UPDATE tasks SET dispatched_at = dispatched_at - 100 RETURNING id")
    farm.query("UPDATE datasets SET created_at = created_at - 100 RETURNING id")
    out = farm.cli("status").stdout
    assert "queue and catalog disagree: 2 tasks" in out, out
    assert "stalled" in out, out
    js = json.loads(farm.cli("status", "--json").stdout)
    assert js["datasets"][0]["eta_seconds"] is None and js["datasets"][0]["stalled"]


# ---- hostile and misrouted queue messages --------------------------------------------------------
def _push_raw_job(r, job_id: str, queue_key: str, fields: dict) -> None:
    r.hset(f"rq:job:{job_id}", mapping=fields)
    r.rpush(queue_key, job_id)


def test_malformed_messages_are_dead_lettered_and_the_worker_lives(farm):
    from rq import Queue

    from synthreid.workers.dispatch import DEAD_LETTER, JOB_FUNC

    farm.migrate()
    r = redis_client(farm)
    key = "rq:queue:synthreid-render"
    marker = farm.tmp / "MARKER"
    # 1. a pickled payload (RQ's default serializer): would run os.system if anything unpickled it
    Queue("synthreid-render", connection=r).enqueue("os.system", f"touch {marker}")
    # 2. a garbage hash
    _push_raw_job(r, "garbage", key, {"foo": b"\x00\xffbar"})
    # 3. a JSON string as the job data
    _push_raw_job(
        r,
        "jsonstr",
        key,
        {
            "data": zlib.compress(b'"hello"'),
            "origin": "synthreid-render",
            "status": "queued",
            "created_at": "2026-01-01T00:00:00.000000Z",
        },
    )
    # 4. our function without arguments
    body = json.dumps([JOB_FUNC, None, [], {}]).encode()
    _push_raw_job(
        r,
        "noargs",
        key,
        {
            "data": zlib.compress(body),
            "origin": "synthreid-render",
            "status": "queued",
            "created_at": "2026-01-01T00:00:00.000000Z",
        },
    )
    assert r.llen(key) == 4
    w = farm.worker()
    wait_for(lambda: r.llen(key) == 0 and r.llen(DEAD_LETTER) == 4, 60, "the four messages to be set aside")
    wait_for(lambda: "dead-lettered" in log_of(w) and log_of(w).count("dead-lettered") >= 4, 10, "log lines")
    assert w.poll() is None, log_of(w)[-3000:]
    entries = [json.loads(e) for e in r.lrange(DEAD_LETTER, 0, -1)]
    assert {e["job_id"] for e in entries} >= {"garbage", "jsonstr", "noargs"}
    assert all(e["reason"] for e in entries)
    assert not marker.exists()
    # It still works: a real task sent after them is rendered.
    farm.cli("enqueue", farm.spec(characters=1, images=1), "-q")
    wait_for(lambda: farm.query("SELECT state FROM tasks")[0][0] == "done", 180, "the real task to be done")
    assert w.poll() is None
    w.send_signal(signal.SIGTERM)
    w.wait(30)
    assert w.returncode == 0, log_of(w)[-3000:]
    assert "Traceback" not in log_of(w)


def test_gpu_task_on_the_render_queue_is_not_executed(farm):
    from synthreid.workers.dispatch import DEAD_LETTER, JOB_FUNC, JOB_ID_PREFIX, RQDispatcher, dispatch

    farm.migrate()
    cat = farm.catalog()
    payload = {"command": "benchmark-eval", "run": "r1", "args": ["--test", "x"]}
    tid, queue = cat.create_gpu_task(
        kind="eval_reid", queue="gpu", payload=payload, run_name="r1", run_kind="reid", max_attempts=1
    )
    rq = RQDispatcher(farm.redis_url)
    dispatch(cat, rq, [(tid, queue)])
    cat.close()
    r = redis_client(farm)
    render_key, gpu_key = "rq:queue:synthreid-render", "rq:queue:synthreid-gpu"
    # The gpu job's id pushed onto the render queue, and a render-queue job naming the gpu task.
    r.rpush(render_key, f"{JOB_ID_PREFIX}{tid}")
    body = json.dumps([JOB_FUNC, None, [tid], {}]).encode()
    _push_raw_job(
        r,
        "forged",
        render_key,
        {
            "data": zlib.compress(body),
            "origin": "synthreid-render",
            "status": "queued",
            "created_at": "2026-01-01T00:00:00.000000Z",
        },
    )
    w = farm.worker()
    wait_for(lambda: r.llen(render_key) == 0 and r.llen(DEAD_LETTER) == 2, 60, "both messages to be refused")
    state, attempts, worker = farm.query("SELECT state, attempts, worker FROM tasks WHERE id = %s", (tid,))[0]
    assert (state, attempts, worker) == ("pending", 0, None)
    assert r.llen(gpu_key) == 1 and r.exists(f"rq:job:{JOB_ID_PREFIX}{tid}"), "the gpu queue keeps its job"
    assert not (farm.data / "runs" / "r1").exists()
    reasons = " | ".join(json.loads(e)["reason"] for e in r.lrange(DEAD_LETTER, 0, -1))
    assert "queue 'synthreid-gpu'" in reasons and "'gpu'" in reasons
    w.send_signal(signal.SIGTERM)
    w.wait(30)
    assert w.returncode == 0


# ---- stops with the catalog down ---------------------------------------------------------------
def test_sigterm_with_the_catalog_unreachable_exits_within_the_bound(farm):
    farm.migrate()
    proxy = TcpProxy()
    url = farm.pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    assert url != farm.pg_url
    w = farm.worker(SYNTHREID_DATABASE_URL=url)
    wait_for(lambda: farm.query("SELECT COUNT(*) FROM workers")[0][0] == 1, 60, "the worker to register")
    proxy.close()
    wait_for(
        lambda: "catalog" in log_of(w) and ("unreachable" in log_of(w) or "connection lost" in log_of(w)),
        30,
        "the worker to notice the catalog is gone",
    )
    w.send_signal(signal.SIGTERM)
    # Documented: an idle worker gives up on the catalog after one lease (its threads' retry
    # windows add at most a few seconds); lease + STOP_SLACK is the watchdog's hard bound.
    try:
        w.wait(LEASE + 15)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"worker still alive after the bound:\n{log_of(w)[-3000:]}") from None
    log = log_of(w)
    assert "stopped" in log and "Traceback" not in log, log[-3000:]


def test_sigterm_while_the_catalog_never_answered(farm):
    """Started with the database down: it retries (masking the password) and stops on SIGTERM."""
    w = farm.worker(SYNTHREID_DATABASE_URL="postgresql://synthreid:Sup3rS3cretPw@127.0.0.1:1/x")
    wait_for(lambda: "unreachable" in log_of(w), 60, "a retry line")
    w.send_signal(signal.SIGTERM)
    w.wait(LEASE + 30)
    log = log_of(w)
    assert "Sup3rS3cretPw" not in log and "***" in log, log[-2000:]


# ---- unique names ----------------------------------------------------------------------------------
def test_unique_name_race_gives_the_clean_error(farm):
    """A second enqueue inserting the same name while the first one's transaction is open waits,
    then gets DatasetError (not psycopg2's UniqueViolation) once the first commits."""
    import psycopg2

    from synthreid.errors import DatasetError

    farm.migrate()
    first = psycopg2.connect(farm.pg_url)
    cur = first.cursor()
    cur.execute(
        "INSERT INTO datasets (name, spec, created_at, planned_characters) VALUES ('tiny', '{}', 0, 0)"
    )
    cat = farm.catalog()
    out = {}

    def second():
        try:
            cat.begin_rendered_dataset("tiny", {}, 1, 1)
        except Exception as exc:  # noqa: BLE001 - the test checks which error arrives
            out["error"] = exc

    th = threading.Thread(target=second)
    th.start()
    wait_for(
        lambda: (
            farm.query(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                "wait_event_type = 'Lock'"
            )[0][0]
            >= 1
        ),
        30,
        "the second insert to wait on the first",
    )
    first.commit()
    th.join(30)
    first.close()
    cat.close()
    assert isinstance(out.get("error"), DatasetError), out
    assert "already exists" in str(out["error"])


def test_concurrent_enqueue_cli_one_wins_the_others_get_the_message(farm):
    farm.migrate()
    spec = farm.spec(characters=300, images=2)
    cmd = [sys.executable, "-m", "synthreid.cli", "enqueue", str(spec), "-q"]
    procs = [
        subprocess.Popen(
            cmd, env=farm.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=farm.tmp
        )
        for _ in range(4)
    ]
    results = [(p.wait(180), *p.communicate()) for p in procs]
    assert sorted(rc for rc, _, _ in results) == [0, 2, 2, 2], results
    for rc, _out, err in results:
        assert "Traceback" not in err and "UniqueViolation" not in err, err
        if rc:
            assert "already exists" in err
    assert farm.query("SELECT COUNT(*) FROM characters")[0][0] == 300


# ---- planning memory -----------------------------------------------------------------------------
PLAN_CHILD = r"""
import json, re, resource, sys, time
# Peak RSS of this process's own memory (VmHWM): ru_maxrss would also count the RSS of the
# process that forked us (Linux keeps it across exec), e.g. a 1.6 GB pytest.
from pathlib import Path
from synthreid.render.spec import DatasetSpec
from synthreid.workers.catalog import open_catalog
from synthreid.workers.config import FarmConfig
from synthreid.workers.tasks import enqueue_dataset
cfg = FarmConfig(data_dir=Path(sys.argv[1]))
cat = open_catalog(cfg)
spec = DatasetSpec.from_dict({"name": "big", "seed": 1, "characters": int(sys.argv[2]),
                              "images_per_character": int(sys.argv[3]), "splits": {"test": 1, "val": 1}})
t0 = time.perf_counter()
res = enqueue_dataset(cat, spec, progress=False, processes=int(sys.argv[4]))
n = len(res.tasks)
print(json.dumps({"seconds": time.perf_counter() - t0, "tasks": n, "images": res.images,
                  "rss_mb": int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read())[1]) / 1024,
                  "children_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


# CI read 1,656 MB here while a lone run read 152 MB: ru_maxrss had counted the pytest process that
# forked the child (Linux carries the high-water mark across exec); VmHWM counts only the child.
@pytest.mark.slow
def test_planning_a_million_images_stays_under_the_memory_bound(tmp_path):
    """100,000 characters x 10 images into a SQLite catalog, peak RSS read in the child itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHREID_")}
    res = subprocess.run(
        [sys.executable, "-c", PLAN_CHILD, str(tmp_path / "data"), "100000", "10", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["images"] == 1_000_000 and out["tasks"] == 100_000
    print(out)
    assert out["rss_mb"] < 300, out
    assert out["children_rss_mb"] < 300, out
