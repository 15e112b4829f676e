"""Farm reliability without services (SQLite catalog, fake renderer): streaming enqueue and its
resume, capacity check, stalled ETA, disk full, names, URL masking, the stop bound."""

from __future__ import annotations

import errno
import logging
import threading
import time

import pytest

from synthreid.dataset import check_dataset_name
from synthreid.errors import DatasetError
from synthreid.workers.catalog import CatalogError, CatalogUnavailable
from synthreid.workers.catalog.base import Catalog
from synthreid.workers.catalog.sqlite import SQLiteCatalog
from synthreid.workers.config import ConfigError, FarmConfig, SecretFilter, mask_url, redact
from synthreid.workers.dispatch import LocalDispatcher
from synthreid.workers.status import farm_status, format_status
from synthreid.workers.tasks import check_capacity, enqueue_dataset, estimate_bytes, plan_batches
from synthreid.workers.worker import Worker, task_kinds

from .conftest import FakeBackend, tiny_spec


def make_worker(config, backend, **kw):
    return Worker(config, burst=True, backend=backend, dispatcher=LocalDispatcher(), poll_seconds=0.05, **kw)


# ---- names and URLs ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["a\n", "a\nb", "-a", "a/b", "..", "a..b", "", "x" * 129, "a b", "é"])
def test_bad_dataset_names_are_refused(name):
    with pytest.raises(DatasetError):
        check_dataset_name(name)


def test_good_dataset_names_pass():
    for name in ("a", "IV", "r-iv_2.x", "x" * 128):
        assert check_dataset_name(name) == name


def test_mask_url_hides_the_password():
    assert mask_url("postgresql://u:s3cret@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert mask_url("redis://:s3cret@r:6379/0") == "redis://:***@r:6379/0"
    assert mask_url("postgresql://u:p%40ss@db/x") == "postgresql://u:***@db/x"
    assert mask_url("postgresql://u@db/x") == "postgresql://u@db/x"
    assert "s3cret" not in mask_url("postgresql://u:s3cret@db:notaport/x")


def test_unencoded_at_in_password_is_refused_without_printing_it():
    with pytest.raises(ConfigError) as err:
        FarmConfig.from_env({"SYNTHREID_DATABASE_URL": "postgresql://u:pa@ss@db:5432/x"})
    assert "%40" in str(err.value) and "pa@ss" not in str(err.value) and "ss@db" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        FarmConfig.from_env({"SYNTHREID_REDIS_URL": "redis://:pa@ss@r:6379/0"})
    assert "pa@ss" not in str(err.value)
    ok = FarmConfig.from_env({"SYNTHREID_DATABASE_URL": "postgresql://u:pa%40ss@db:5432/x"})
    assert ok.uses_postgres


def test_secret_filter_masks_every_form_of_the_password(caplog):
    rec = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "lost %s and %s", ("p@ss-word", "p%40ss-word"), None
    )
    SecretFilter(["p@ss-word"]).filter(rec)
    assert rec.getMessage() == "lost *** and ***"
    assert (
        redact('could not translate host name "ss-word@db"', ["pa@ss-word"])
        == 'could not translate host name "ss-word@db"'
    )  # no false positives on fragments of other text


def test_postgres_catalog_messages_are_masked(tmp_path):
    from synthreid.workers.catalog.postgres import PostgresCatalog

    with pytest.raises(CatalogUnavailable) as err:
        PostgresCatalog("postgresql://u:Hunter2pw@127.0.0.1:1/x", retry_for=0.0)
    assert "Hunter2pw" not in str(err.value) and "***" in str(err.value)


# ---- streaming enqueue --------------------------------------------------------------------------
def test_enqueue_in_batches_commits_every_row_once(config, catalog):
    res = enqueue_dataset(catalog, tiny_spec(characters=7, images=3), progress=False, batch_images=6)
    assert (res.characters, res.images, len(res.tasks)) == (7, 21, 7)
    ds = catalog.get_dataset("tiny")
    assert ds["planned_characters"] is None
    stems = [i["stem"] for i in catalog.dataset_images(ds["id"])]
    assert len(stems) == len(set(stems)) == 21
    assert [t for t, _ in res.tasks] == sorted(t for t, _ in res.tasks)
    # The batches hold exactly what the one-shot planner gives.
    from synthreid.render.plan import plan_image

    with catalog._tx() as cur:
        got = catalog.q(cur, "SELECT params FROM images WHERE stem = ?", (stems[-1],)).fetchone()[0]
    import json

    spec = tiny_spec(characters=7, images=3)
    assert json.loads(got) == plan_image(spec, 6, 2).to_json(character=False)


class InterruptAfter(SQLiteCatalog):
    """A real SQLite catalog whose enqueue is interrupted (like Ctrl-C) after ``n`` batches."""

    def __init__(self, path, n):
        self.n = n
        super().__init__(path)

    def add_planned_batch(self, *a, **kw):
        if self.n == 0:
            raise KeyboardInterrupt
        self.n -= 1
        return super().add_planned_batch(*a, **kw)


def test_interrupted_enqueue_is_not_finalized_and_resume_completes_it(config, catalog):
    spec = tiny_spec(characters=5, images=2)
    cat = InterruptAfter(config.sqlite_path, 1)
    with pytest.raises(KeyboardInterrupt):
        enqueue_dataset(cat, spec, progress=False, batch_images=4)  # batches of 2 characters
    cat.close()
    ds = catalog.get_dataset("tiny")
    assert ds["planned_characters"] == 4 and len(catalog.dataset_images(ds["id"])) == 8
    st = farm_status(catalog, "tiny")["datasets"][0]
    assert st.planned == 4 and "planning 4/5" in format_status(farm_status(catalog))
    # Workers render what is planned but do not finalize a dataset still being planned.
    backend = FakeBackend()
    make_worker(config, backend).run()
    assert backend.finalized == 0 and catalog.get_dataset("tiny")["finalized_at"] is None
    with pytest.raises(DatasetError, match="already exists"):
        enqueue_dataset(catalog, spec, progress=False)
    res = enqueue_dataset(catalog, spec, resume=True, progress=False, batch_images=4)
    assert res.resumed and len(res.tasks) == 1
    assert catalog.get_dataset("tiny")["planned_characters"] is None
    make_worker(config, backend).run()
    assert backend.finalized == 1
    assert len(catalog.dataset_images(ds["id"])) == 10


def test_parallel_planning_gives_the_same_batches():
    spec = tiny_spec(characters=6, images=2)
    one = list(plan_batches(spec, 0, 2, processes=1))
    two = list(plan_batches(spec, 0, 2, processes=2))
    assert one == two and [b.start for b in one] == [0, 2, 4]


def test_a_pooled_enqueue_plans_every_batch_in_its_pool(config, catalog, monkeypatch, tmp_path):
    import multiprocessing

    from synthreid.workers import tasks

    def stored(cat, dsid):
        return [row[1:] for page in cat.image_plan_pages(dsid) for row in page]

    spec = tiny_spec(characters=6, images=2)
    alone_cat = SQLiteCatalog(tmp_path / "alone.db")
    alone_cat.upgrade()
    alone = enqueue_dataset(alone_cat, spec, progress=False, batch_images=4)
    monkeypatch.setattr(tasks, "PARALLEL_FROM", 1)

    def not_here(*args, **kwargs):
        raise AssertionError("planned in the enqueue process")

    monkeypatch.setattr(tasks, "_plan_range", not_here)  # the spawned pool imports its own
    pooled = enqueue_dataset(catalog, spec, progress=False, processes=2, batch_images=4)
    assert stored(catalog, pooled.dataset_id) == stored(alone_cat, alone.dataset_id)
    assert len(stored(catalog, pooled.dataset_id)) == 12
    alone_cat.close()

    def refused(*args, **kwargs):
        raise DatasetError("dataset 'other' already exists in the catalog")

    monkeypatch.setattr(catalog, "begin_rendered_dataset", refused)
    with pytest.raises(DatasetError, match="already exists"):
        enqueue_dataset(catalog, spec.replace(name="other"), progress=False, processes=2, batch_images=4)
    assert multiprocessing.active_children() == []  # the pool planning ahead was stopped


def test_capacity_is_checked_before_anything_is_written(config, catalog, tmp_path):
    files, rows = estimate_bytes(tiny_spec())
    assert files > 2_500 and rows > 0
    huge = tiny_spec(characters=10_000_000, images=10_000, output={"size": [4096, 4096]})
    with pytest.raises(DatasetError, match=r"need about .* GB .* free"):
        enqueue_dataset(catalog, huge, progress=False, data_dir=tmp_path, catalog_dir=tmp_path)
    assert catalog.get_dataset("tiny") is None
    assert check_capacity(tiny_spec(), tmp_path, tmp_path) > 0


# ---- status -------------------------------------------------------------------------------------
def test_eta_is_withheld_while_nothing_progresses(config, catalog):
    enqueue_dataset(catalog, tiny_spec(characters=2, images=1), progress=False)
    # One task finished a while ago; the other has been due since, with nothing running.
    t = catalog.claim("A", 5)
    with catalog._tx() as cur:
        catalog.q(
            cur,
            "UPDATE tasks SET state = 'done', finished_at = ?, started_at = ? WHERE id = ?",
            (time.time() - 20, time.time() - 21, t.id),
        )
        catalog.q(cur, "UPDATE datasets SET created_at = ?", (time.time() - 30,))
    st = farm_status(catalog, lease=5)
    d = st["datasets"][0]
    assert d.stalled and d.eta_seconds is None and d.rate > 0
    assert "stalled" in format_status(st) and any("stalled" in w for w in st["warnings"])
    # The same state within the lease: not stalled yet, an ETA from the rate.
    d = farm_status(catalog, lease=60)["datasets"][0]
    assert not d.stalled and d.eta_seconds is not None
    # A task running: progress is being made.
    catalog.claim("B", 5)
    assert not farm_status(catalog, lease=5)["datasets"][0].stalled


# ---- disk full ----------------------------------------------------------------------------------
class DiskFullBackend(FakeBackend):
    """Fake renderer whose image write fails as on a full disk."""

    def session(self, spec):
        s = super().session(spec)

        def render(plan):
            raise OSError(errno.ENOSPC, "No space left on device", "images")

        s.render = render
        return s


def test_disk_full_image_write_is_a_recorded_task_failure(config, catalog):
    enqueue_dataset(catalog, tiny_spec(characters=1, images=1), max_attempts=1, progress=False)
    stats = make_worker(config, DiskFullBackend()).run()
    assert stats["failed"] == 1
    t = catalog.get_task(1)
    assert t.state == "failed" and "No space left on device" in t.last_error


class FullSQLiteCatalog(SQLiteCatalog):
    """A real SQLite catalog that cannot grow (max_page_count reached): SQLite answers exactly as
    on a full disk, SQLITE_FULL 'database or disk is full'."""

    def _connect(self):
        conn = super()._connect()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn


def test_full_sqlite_catalog_is_a_clean_error_not_a_crash(config, catalog, caplog):
    enqueue_dataset(catalog, tiny_spec(characters=2, images=1), max_attempts=1, progress=False)
    # Recording a failure needs new pages (as a WAL append on a full disk would).
    with catalog._tx() as cur:
        cur.execute("CREATE TABLE pad (b BLOB)")
        cur.execute(
            "CREATE TRIGGER grow AFTER UPDATE OF last_error ON tasks BEGIN "
            "INSERT INTO pad VALUES (zeroblob(200000)); END"
        )
    full = FullSQLiteCatalog(config.sqlite_path)
    with pytest.raises(CatalogError, match="disk full"):
        full.run(lambda cur: cur.execute("UPDATE tasks SET last_error = 'x' WHERE id = 1"))
    full.close()
    w = make_worker(
        config.replace(lease_seconds=60),
        DiskFullBackend(),
        catalog_factory=lambda: FullSQLiteCatalog(config.sqlite_path),
    )
    out = {}

    def run():
        try:
            out["stats"] = w.run()
        except BaseException as exc:  # noqa: BLE001 - the test reports what escaped
            out["error"] = exc

    th = threading.Thread(target=run, daemon=True)
    with caplog.at_level(logging.ERROR, logger="synthreid.workers.worker"):
        th.start()
        end = time.monotonic() + 30
        while (
            time.monotonic() < end
            and th.is_alive()
            and not any("could not be recorded" in r.getMessage() for r in caplog.records)
        ):
            time.sleep(0.05)
        w.stop_requested.set()
        th.join(30)
    assert not th.is_alive() and "error" not in out, out.get("error")
    msg = next(r.getMessage() for r in caplog.records if "could not be recorded" in r.getMessage())
    assert "No space left on device" in msg and "disk full" in msg
    assert catalog.get_task(1).state == "running"  # its lease returns it once the disk has room


# ---- stop bound and queues ----------------------------------------------------------------------
def test_give_up_after_ends_the_endless_retry_of_a_worker_catalog():
    class Down(Catalog):
        connection_errors = (ConnectionError,)

        def _connect(self):
            raise ConnectionError("server closed the connection")

    cat = Down.__new__(Down)  # as a worker's catalog after the database went away
    cat.retry_for, cat.conn, cat.give_up_at = float("inf"), None, None
    out = {}

    def call():
        try:
            cat.run(lambda cur: None)
        except CatalogUnavailable as exc:
            out["error"] = exc

    th = threading.Thread(target=call, daemon=True)
    th.start()
    th.join(0.5)
    assert th.is_alive()  # retrying, as a running worker should
    cat.give_up_after(0.2)  # what a stop signal does
    th.join(10)
    assert not th.is_alive() and "unreachable" in str(out["error"])


def test_worker_queues_map_to_their_task_kinds():
    assert task_kinds(["render"]) == ("render_character",)
    assert "render_character" not in task_kinds(["gpu"])
    with pytest.raises(ConfigError, match="unknown queue 'cpu'"):
        task_kinds(["cpu"])


def test_render_worker_never_claims_a_gpu_task(config, catalog):
    tid, _ = catalog.create_gpu_task(
        kind="eval_reid",
        queue="gpu",
        payload={"command": "benchmark-eval", "run": "r", "args": []},
        run_name="r",
        run_kind="reid",
        max_attempts=1,
    )
    assert catalog.claim("A", 5, task_id=tid, queues=["render"], kinds=task_kinds(["render"])) is None
    # Even a gpu task stored under the render queue is refused by kind.
    with catalog._tx() as cur:
        catalog.q(cur, "UPDATE tasks SET queue = 'render' WHERE id = ?", (tid,))
    assert catalog.claim("A", 5, task_id=tid, queues=["render"], kinds=task_kinds(["render"])) is None
    assert catalog.claim("A", 5, queues=["render"], kinds=task_kinds(["render"])) is None
    assert catalog.get_task(tid).state == "pending"


# ---- re-runnable finalize -------------------------------------------------------------------------
class FinalizeFailsOnce(FakeBackend):
    """The finalize after the last task fails once, as on a full disk."""

    def __init__(self):
        super().__init__()
        self.failures = 1

    def finalize_dataset(self, spec, root, plans):
        if self.failures:
            self.failures -= 1
            raise OSError(errno.ENOSPC, "No space left on device", str(root / "labels.jsonl"))
        super().finalize_dataset(spec, root, plans)


def test_failed_finalize_is_recorded_and_repaired_by_an_idle_worker(config, catalog):
    enqueue_dataset(catalog, tiny_spec(characters=2, images=1), progress=False)
    backend = FinalizeFailsOnce()
    stats = make_worker(config, backend).run()  # burst: its last idle pass already repairs it
    assert stats["done"] == 2 and stats["failed"] == 0  # the tasks themselves succeeded
    ds = catalog.get_dataset("tiny")
    assert backend.failures == 0 and backend.finalized == 1 and ds["finalized_at"] is not None
    assert (config.dataset_root("tiny") / "labels.jsonl").is_file()


def test_finalize_error_shows_in_status_until_repaired(config, catalog):
    enqueue_dataset(catalog, tiny_spec(characters=1, images=1), progress=False)
    backend = FinalizeFailsOnce()
    task = catalog.claim("A", 5)
    from synthreid.workers.tasks import finalize_pending, run_render_task

    run_render_task(catalog, task, worker="A", data_root=config.dataset_root, backend=backend)
    ds = catalog.get_dataset("tiny")
    assert ds["finalized_at"] is None and "No space left" in ds["finalize_error"]
    text = format_status(farm_status(catalog))
    assert "finalizing" in text and "finalize failed" in text and "No space left" in text
    assert finalize_pending(catalog, backend=backend, data_root=config.dataset_root, stale_after=5) == 1
    ds = catalog.get_dataset("tiny")
    assert ds["finalized_at"] is not None and ds["finalize_error"] is None
    assert "finalize failed" not in format_status(farm_status(catalog))
    assert finalize_pending(catalog, backend=backend, data_root=config.dataset_root, stale_after=5) == 0


def test_finalize_of_a_killed_finalizer_is_taken_over_after_the_lease(config, catalog):
    from synthreid.workers.tasks import finalize_pending

    enqueue_dataset(catalog, tiny_spec(characters=1, images=1), progress=False)
    backend = FakeBackend()
    task = catalog.claim("A", 5)
    with catalog._tx() as cur:  # the task finished, then its worker died inside the finalize
        catalog.q(cur, "UPDATE tasks SET state = 'done' WHERE id = ?", (task.id,))
        catalog.q(cur, "UPDATE datasets SET finalizing_at = ?", (time.time(),))
    assert finalize_pending(catalog, backend=backend, data_root=config.dataset_root, stale_after=60) == 0
    with catalog._tx() as cur:
        catalog.q(cur, "UPDATE datasets SET finalizing_at = ?", (time.time() - 61,))
    assert finalize_pending(catalog, backend=backend, data_root=config.dataset_root, stale_after=60) == 1
    assert catalog.get_dataset("tiny")["finalized_at"] is not None


# ---- interrupted dataset creation -----------------------------------------------------------------
def test_half_created_dataset_folder_is_completed_not_refused(config, catalog):
    from synthreid.render.output import half_initialised

    enqueue_dataset(catalog, tiny_spec(characters=2, images=1), progress=False)
    root = config.dataset_root("tiny")
    for sub in ("images", "masks", "meta"):  # what a creation killed before its manifest leaves
        (root / sub).mkdir(parents=True)
    (root / "labels.jsonl").write_text('{"stem": "00000_c1_0000", "st')  # torn
    (root / "images" / ".00000_c1_0000.png.77.tmp").write_bytes(b"torn")
    assert half_initialised(root)
    backend = FakeBackend()
    stats = make_worker(config, backend).run()
    assert stats["done"] == 2 and stats["failed"] == 0
    assert (root / "manifest.json").is_file() and backend.finalized == 1


def test_foreign_or_rendered_folders_are_not_taken_for_half_created(tmp_path):
    from synthreid.render.output import half_initialised

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "00000_c1_0000.png").write_bytes(b"x")
    assert not half_initialised(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert not half_initialised(other)
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "manifest.json").write_text("{}")
    assert not half_initialised(tmp_path / "ours")


# ---- temp folders of killed workers ----------------------------------------------------------------
def test_a_sigkilled_workers_temp_files_are_swept_by_the_next_worker(tmp_path):
    """Found by scripts/battery.py: every SIGKILLed farm worker left Blender's session folder
    (``$TMPDIR/blender_XXXXXX``, made when bpy is imported) that no later worker removes. A
    worker now keeps all its temp files (Blender's included) in its own
    ``synthreid-render-PID-*`` folder, which the next worker sweeps once PID is gone."""
    import os
    import signal
    import subprocess
    import sys

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHREID_")}
    env.update(TMPDIR=str(tmp), SYNTHREID_DATA_DIR=str(tmp_path / "data"), SYNTHREID_LEASE_SECONDS="2")
    cmd = [sys.executable, "-m", "synthreid.cli", "worker"]
    worker = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60  # only turns a hang into a failure
        while not list(tmp.glob(f"synthreid-render-{worker.pid}-*")):
            assert worker.poll() is None and time.monotonic() < deadline, "no private temp folder"
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert list(tmp.glob(f"synthreid-render-{worker.pid}-*"))  # a SIGKILL leaves it behind
    res = subprocess.run([*cmd, "--burst"], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert sorted(p.name for p in tmp.iterdir()) == [], "the next worker leaves its own or the dead one's"
