"""The embedded farm of `synthreid render` without Blender: its catalog in the dataset folder,
plans enqueued from labels.jsonl, images found on disk recorded, one render per folder."""

from __future__ import annotations

import pytest

from synthreid.errors import DatasetError
from synthreid.render.output import init_dataset
from synthreid.render.writer import DatasetWriter
from synthreid.workers import embedded, tasks
from synthreid.workers.catalog import TaskState, open_catalog
from synthreid.workers.tasks import enqueue_dataset, stored_batches

from .conftest import FakeBackend, fake_render, tiny_spec


def _plans(catalog, dsid):
    return [row for page in catalog.image_plan_pages(dsid) for row in page]


def test_the_catalog_lives_in_the_dataset_folder_and_every_name_maps_to_it(tmp_path):
    cfg = embedded.embedded_config(tmp_path / "ds")
    assert cfg.sqlite_path == (tmp_path / "ds" / ".synthreid" / "catalog.sqlite3").absolute()
    assert cfg.dataset_root("anything") == (tmp_path / "ds").absolute()
    with pytest.raises(DatasetError):
        cfg.dataset_root("../escape")
    assert not cfg.uses_postgres and cfg.max_attempts == 1


def test_enqueue_reads_the_plans_from_labels_jsonl_instead_of_planning(tmp_path, monkeypatch):
    spec = tiny_spec(characters=5, images=2)
    root = init_dataset(spec, tmp_path / "ds")
    planned = open_catalog(embedded.embedded_config(tmp_path / "planned"))
    ref = enqueue_dataset(planned, spec, progress=False)

    def no_planning(*a, **k):
        raise AssertionError("planned again")

    monkeypatch.setattr(tasks, "_plan_range", no_planning)
    cat = open_catalog(embedded.embedded_config(root))
    res = enqueue_dataset(
        cat,
        spec,
        progress=False,
        batch_images=4,  # two characters per batch: three batches
        planned=lambda start, batch: stored_batches(root, spec.seed, start, batch),
    )
    assert res.images == 10 and cat.fully_planned(res.dataset_id)
    assert _plans(cat, res.dataset_id) == _plans(planned, ref.dataset_id)
    assert len(list(res.tasks)) == 5
    cat.close()
    planned.close()


def test_images_complete_on_disk_are_recorded_before_workers_start(tmp_path):
    spec = tiny_spec(characters=3, images=2)
    root = init_dataset(spec, tmp_path / "ds")
    cat = open_catalog(embedded.embedded_config(root))
    dsid = enqueue_dataset(
        cat, spec, progress=False, planned=lambda s, b: stored_batches(root, spec.seed, s, b)
    ).dataset_id
    backend = FakeBackend()
    for ci, ii in [(0, 0), (0, 1), (1, 0)]:
        fake_render(backend, spec, root, ci, ii)
    (root / "images" / "00002_c1_0000.png").write_bytes(b"not a finished image")  # no meta row
    assert embedded.adopt_finished(cat, dsid, DatasetWriter(root)) == 3
    assert cat.count_images(dsid, "done") == 3
    states = {t: cat.get_task(t).state for t, _ in cat.iter_tasks(dsid, ("pending", "done"))}
    assert sorted(states.values()) == [TaskState.DONE, TaskState.PENDING, TaskState.PENDING]
    assert embedded.adopt_finished(cat, dsid, DatasetWriter(root)) == 0  # idempotent
    cat.close()


def test_image_done_needs_the_lease_and_release_running_gives_tasks_back(config, catalog):
    enqueue_dataset(catalog, tiny_spec(characters=2), progress=False)
    task = catalog.claim("A", 60)
    image = catalog.character_images(task.character_id)[0]
    row = {"image": "images/x.png", "mask": "masks/x.png", "checksum": "c", "bbox": [0, 0, 1, 1]}
    assert not catalog.image_done(task.id, "B", image["id"], row)
    assert catalog.character_images(task.character_id)[0]["state"] == "pending"
    assert catalog.image_done(task.id, "A", image["id"], row)
    assert catalog.character_images(task.character_id)[0]["state"] == "done"
    assert catalog.release_running(task.dataset_id) == 1
    again = catalog.get_task(task.id)
    assert again.state == TaskState.PENDING and again.attempts == 0 and again.worker is None


def test_resume_after_a_failed_person_finalizes_the_dataset_again(config, catalog):
    dsid = enqueue_dataset(catalog, tiny_spec(characters=1), max_attempts=1, progress=False).dataset_id
    task = catalog.claim("A", 60)
    assert catalog.fail_task(task.id, "A", "boom", 0.0) == TaskState.FAILED
    assert catalog.claim_finalize(dsid, 60) and catalog.mark_finalized(dsid)
    assert catalog.failed_tasks(dsid) == [(task.id, 0, "boom")]
    catalog.resume_dataset(dsid)
    assert catalog.get_dataset_by_id(dsid)["finalized_at"] is None


def test_a_dead_workers_task_fails_for_this_run(config, catalog):
    enqueue_dataset(catalog, tiny_spec(characters=2), progress=False)
    task = catalog.claim("gone", 60)
    assert catalog.fail_worker_tasks("gone", "render worker 1 died") == 1
    assert catalog.get_task(task.id).state == TaskState.FAILED
    assert catalog.fail_worker_tasks("gone", "again") == 0


def test_a_failed_persons_half_committed_files_are_removed_and_the_rest_kept(tmp_path, config, catalog):
    """A worker killed between an image's files and its label row (the commit) left them; the
    render removes them at the end (never recorded), keeping every committed image."""
    root = tmp_path / "ds"
    spec = tiny_spec(characters=2, images=2)
    init_dataset(spec, root)
    res = enqueue_dataset(catalog, spec, progress=False)
    backend = FakeBackend()
    for ci in (0, 1):
        fake_render(backend, spec, root, ci, 0)  # committed: files + meta row
    task = catalog.claim("gone", 60)  # person 0's task, its worker then killed
    half = [im["stem"] for im in catalog.character_images(task.character_id) if im["index"] == 1][0]
    (root / "images" / f"{half}.png").write_bytes(b"written")
    (root / "masks" / f"{half}.png").write_bytes(b"written")
    (root / "images" / f".{half}.png.x1.tmp").write_bytes(b"partial")
    assert catalog.fail_worker_tasks("gone", "render worker 1 died") == 1
    before = {p.name for p in (root / "images").iterdir()}

    embedded._remove_failed_persons_files(catalog, res.dataset_id, DatasetWriter(root, spec.output.format))

    after = {p.name for p in (root / "images").iterdir()}
    assert before - after == {f"{half}.png", f".{half}.png.x1.tmp"}
    assert not (root / "masks" / f"{half}.png").exists()
    assert len(list((root / "meta").glob("*.json"))) == 2  # both committed images untouched


def test_one_render_per_dataset_folder(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    with embedded._dataset_lock(root):
        with pytest.raises(DatasetError, match="being rendered by synthreid render"):
            with embedded._dataset_lock(root):
                pass
    with embedded._dataset_lock(root):  # free again
        pass


def test_a_render_that_loses_the_race_for_a_new_folder_creates_nothing(tmp_path):
    """The lock is taken before the folder is created: a render that loses the race for a
    brand-new folder writes none of its files (it could delete the winner's half-made layout)."""
    root = tmp_path / "new"
    root.mkdir()
    with embedded._dataset_lock(root):  # the first render, still creating the folder
        with pytest.raises(DatasetError, match="being rendered"):
            embedded.render_dataset(tiny_spec(), root, workers=1, progress=False)
        assert sorted(p.name for p in root.iterdir()) == [".synthreid"]


def test_render_refuses_a_foreign_folder_before_touching_it(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    (root / "holiday.jpg").write_bytes(b"not ours")
    with pytest.raises(DatasetError, match="not empty and has no manifest"):
        embedded.render_dataset(tiny_spec(), root, workers=1, progress=False)
    assert sorted(p.name for p in root.iterdir()) == ["holiday.jpg"]


def test_render_on_a_full_disk_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    # Found by scripts/battery.py (tmpfs filled up): `synthreid render` printed an OSError traceback.
    import errno

    from synthreid.cli import main
    from synthreid.render import output

    def full(path, rows):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(output, "write_labels", full)
    out = tmp_path / "ds"
    rc = main(["render", "--preset", "I", "--characters", "1", "--images", "1", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("synthreid: error: ") and "No space left on device" in err[0]
    assert str(out) in err[0]
