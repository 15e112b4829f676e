"""Worker loop and render tasks with a fake renderer: exactly-once, resume, failures, stop."""

from __future__ import annotations

import json
import threading

from synthreid.fsutil import sha256_file
from synthreid.render.writer import DatasetWriter
from synthreid.workers.dispatch import LocalDispatcher
from synthreid.workers.status import farm_status, format_status
from synthreid.workers.storage import remove_character_temps
from synthreid.workers.tasks import StopRequested, enqueue_dataset, run_render_task
from synthreid.workers.worker import Worker

from .conftest import FakeBackend, fake_render, tiny_spec


def make_worker(config, backend, **kw):
    return Worker(config, burst=True, backend=backend, dispatcher=LocalDispatcher(), poll_seconds=0.05, **kw)


def test_worker_renders_everything_once_and_finalizes(config, catalog):
    enqueue_dataset(catalog, tiny_spec(), progress=False)
    backend = FakeBackend()
    stats = make_worker(config, backend).run()
    assert stats["done"] == 3 and stats["failed"] == 0
    assert sorted(backend.rendered) == [(c, i) for c in range(3) for i in range(2)]
    ds = catalog.get_dataset("tiny")
    root = config.dataset_root("tiny")
    for im in catalog.dataset_images(ds["id"]):
        assert im["state"] == "done"
        assert sha256_file(root / im["path"]) == im["checksum"]
        assert (root / im["mask_path"]).is_file()
    assert backend.finalized == 1 and ds["finalized_at"] is not None
    labels = [json.loads(line) for line in (root / "labels.jsonl").read_text().splitlines()]
    assert [r["state"] for r in labels] == ["done"] * 6
    st = farm_status(catalog, "tiny")["datasets"][0]
    assert (st.done, st.total, st.failed, st.eta_seconds) == (6, 6, 0, 0.0)
    assert "tiny" in format_status(farm_status(catalog))


def test_rerun_of_half_finished_task_renders_only_missing(config, catalog):
    res = enqueue_dataset(catalog, tiny_spec(), progress=False)
    task = catalog.claim("A", 5, task_id=res.tasks[0][0])
    backend = FakeBackend()
    root = config.dataset_root("tiny")
    backend.init_dataset(backend.spec_from_dict(catalog.get_dataset("tiny")["spec"]), root)
    # An earlier attempt finished image 0 and was killed while writing image 1.
    first = fake_render(backend, tiny_spec(), root, 0, 0)
    stem1 = catalog.character_images(task.character_id)[1]["stem"]
    (root / "images" / f".{stem1}.png.999.tmp").write_bytes(b"torn")
    backend.rendered.clear()
    out = run_render_task(catalog, task, worker="A", data_root=config.dataset_root, backend=backend)
    assert out == {"rendered": 1, "reused": 1, "finished": True}
    assert backend.rendered == [(0, 1)]
    assert not list(root.rglob("*.tmp"))
    imgs = catalog.character_images(task.character_id)
    assert [i["checksum"] for i in imgs][0] == first["checksum"]


def test_finished_row_rejects_corrupt_image(tmp_path, config, catalog):
    backend = FakeBackend()
    root = config.dataset_root("tiny")
    backend.init_dataset(tiny_spec(), root)
    row = fake_render(backend, tiny_spec(), root, 1, 0)
    writer = DatasetWriter(root)
    assert writer.finished_row(row["stem"])["checksum"] == row["checksum"]
    (root / row["image"]).write_bytes(b"not the rendered image")
    assert writer.finished_row(row["stem"]) is None
    assert writer.finished_row("00000_c9_0000") is None


def test_temp_cleanup_touches_only_the_tasks_stems(tmp_path):
    (tmp_path / "images").mkdir()
    mine, other = (
        tmp_path / "images" / ".00001_c1_0000.png.5.tmp",
        tmp_path / "images" / ".00002_c1_0000.png.6.tmp",
    )
    mine.write_bytes(b"x")
    other.write_bytes(b"x")
    assert remove_character_temps(tmp_path, ["00001_c1_0000"]) == 1
    assert not mine.exists() and other.exists()


def test_write_failure_leaves_images_pending_and_task_failed(config, catalog):
    enqueue_dataset(catalog, tiny_spec(), max_attempts=2, progress=False)
    backend = FakeBackend(fail_on={(1, 1)})
    stats = make_worker(config, backend).run()
    assert stats["done"] == 2 and stats["failed"] == 2
    ds = catalog.get_dataset("tiny")
    by_stem = {i["stem"]: i["state"] for i in catalog.dataset_images(ds["id"])}
    char1 = [s for s in by_stem if s.startswith("00001_")]
    # image 0 was recorded as soon as its files were written; image 1 never was
    assert [by_stem[s] for s in char1] == ["done", "pending"]
    st = farm_status(catalog, "tiny")["datasets"][0]
    assert (st.done, st.failed, st.failed_tasks) == (4, 2, 1)  # status counts images by task
    assert "OSError: cannot write image 1/1" in st.errors[0]["error"]
    assert backend.finalized == 1  # labels.jsonl still written: done rows plus planned rows


def test_stop_request_releases_task_between_images(config, catalog):
    enqueue_dataset(catalog, tiny_spec(characters=1, images=3), progress=False)
    backend = FakeBackend()
    task = catalog.claim("A", 5)
    calls = iter([False, True])
    try:
        run_render_task(
            catalog,
            task,
            worker="A",
            data_root=config.dataset_root,
            backend=backend,
            should_stop=lambda: next(calls),
        )
    except StopRequested:
        pass
    else:
        raise AssertionError("expected StopRequested")
    assert backend.rendered == [(0, 0)]


def test_worker_stops_gracefully_on_request(config, catalog):
    enqueue_dataset(catalog, tiny_spec(characters=2, images=2), progress=False)
    backend = FakeBackend()
    w = make_worker(config, backend)
    original = backend.session

    def session(spec):
        s = original(spec)
        render = s.render

        def render_and_stop(plan):
            w.stop_requested.set()  # as SIGTERM would, mid-character
            return render(plan)

        s.render = render_and_stop
        return s

    backend.session = session
    stats = w.run()
    assert stats["released"] == 1 and stats["done"] == 0
    t = catalog.get_task(1)
    assert (t.state, t.attempts, t.worker) == ("pending", 0, None)
    # A second worker finishes it, reusing the image already on disk.
    backend2 = FakeBackend()
    make_worker(config, backend2).run()
    assert backend2.rendered == [(0, 1), (1, 0), (1, 1)]


def test_heartbeat_renews_lease_and_status_lists_worker(config, catalog):
    config = config.replace(lease_seconds=0.6)
    enqueue_dataset(catalog, tiny_spec(characters=1, images=1), progress=False)
    backend = FakeBackend()
    w = make_worker(config, backend)
    release = threading.Event()
    seen = {}

    def slow_session(spec):
        s = FakeBackend.session(backend, spec)
        render = s.render

        def slow(plan):
            release.wait(5)
            return render(plan)

        s.render = slow
        return s

    backend.session = slow_session
    th = threading.Thread(target=lambda: seen.setdefault("stats", w.run()))
    th.start()
    import time

    time.sleep(1.5)  # > 2 leases: without renewal another worker could claim it
    assert catalog.claim("B", 5) is None
    workers = farm_status(catalog, live_within=5)["workers"]
    assert [x["name"] for x in workers] == [w.name] and workers[0]["task_id"] == 1
    release.set()
    th.join(10)
    assert seen["stats"]["done"] == 1 and seen["stats"]["lost"] == 0


def test_worker_renders_the_stored_plan_and_refuses_an_older_schema(config, catalog):
    """The worker renders what enqueue stored, not what the sampler would draw now; a row of
    plan schema 1 (enqueued before typed plans) fails its task with an error naming it."""
    res = enqueue_dataset(catalog, tiny_spec(characters=2, images=1), progress=False)
    first, second = (catalog.get_task(t) for t, _ in res.tasks)
    with catalog._tx() as cur:
        params = json.loads(
            catalog.q(
                cur, "SELECT params FROM images WHERE character_id = ?", (first.character_id,)
            ).fetchone()[0]
        )
        params["light"]["ambient"] = 0.123  # a value the sampler would not draw for this image
        catalog.q(
            cur,
            "UPDATE images SET params = ? WHERE character_id = ?",
            (json.dumps(params), first.character_id),
        )
        old = json.loads(
            catalog.q(
                cur, "SELECT attributes FROM characters WHERE id = ?", (second.character_id,)
            ).fetchone()[0]
        )
        old.pop("schema")  # as written before schema 2
        catalog.q(
            cur, "UPDATE characters SET attributes = ? WHERE id = ?", (json.dumps(old), second.character_id)
        )
    make_worker(config, FakeBackend()).run()
    root = config.dataset_root("tiny")
    stem = catalog.character_images(first.character_id)[0]["stem"]
    assert json.loads((root / "meta" / f"{stem}.json").read_text())["light"]["ambient"] == 0.123
    failed = catalog.get_task(second.id)
    assert failed.state == "failed" and "plan schema 1" in failed.last_error
