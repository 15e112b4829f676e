"""`enqueue --resume` on the real Postgres and Redis with real (tiny) Blender renders: finished
images whose files were damaged are re-queued, rendered again (only they) and the dataset is
finalized again."""

from __future__ import annotations

import pytest

from synthreid.fsutil import sha256_file

from .test_farm_pipeline import check_complete, worker_stats

pytestmark = pytest.mark.integration


def test_resume_rerenders_exactly_the_damaged_images(farm):
    farm.migrate()
    spec = farm.spec(characters=2, images=2)
    farm.cli("enqueue", spec, "-q")
    w = farm.worker("--burst")
    assert worker_stats(farm.wait(w))["rendered"] == 4 and w.returncode == 0
    rows = {r["stem"]: r for r in check_complete(farm, images=4)}
    root = farm.data / "datasets" / "tiny"
    chars = farm.query("SELECT c.idx, i.idx, i.stem FROM images i JOIN characters c ON c.id = i.character_id")
    stem = {(ci, ii): s for ci, ii, s in chars}
    truncated, maskless = stem[(0, 1)], stem[(1, 0)]
    image = root / rows[truncated]["path"]
    image.write_bytes(image.read_bytes()[:100])
    (root / rows[maskless]["mask_path"]).unlink()
    kept = {s: sha256_file(root / rows[s]["path"]) for s in rows if s not in (truncated, maskless)}
    assert farm.cli("verify", root, "--quiet", check=False).returncode == 1

    out = farm.cli("enqueue", spec, "--resume", "-q").stdout
    assert "checked 4 done images" in out and "2 re-queued in 2 tasks" in out, out
    assert f"images/{truncated}.png: sha256 differs" in out and f"masks/{maskless}.png: missing" in out, out
    assert farm.query("SELECT finalized_at FROM datasets WHERE name = 'tiny'")[0][0] is None
    assert sorted(s for (s,) in farm.query("SELECT stem FROM images WHERE state = 'pending'")) == sorted(
        [truncated, maskless]
    )

    w = farm.worker("--burst")
    stats = worker_stats(farm.wait(w))
    assert w.returncode == 0
    assert (stats["rendered"], stats["reused"], stats["done"]) == (2, 0, 2)
    again = {r["stem"]: r for r in check_complete(farm, images=4)}  # finalized again, every checksum holds
    assert {s: again[s]["checksum"] for s in kept} == kept  # the sound images were not rendered again
    res = farm.cli("verify", root, "--quiet", check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    out = farm.cli("enqueue", spec, "--resume", "-q").stdout
    assert "checked 4 done images" in out and "all sound" in out and "0 tasks to run" in out, out
