"""The same plan renders the same bytes whatever process renders it (issue 15, determinism).

Cycles on CPU seeds every pixel's sampling pattern from the scene seed and the pixel, and OIDN's
CPU denoiser is deterministic for a fixed input, so neither the thread count, nor a warm process
that rendered other characters first, nor re-rendering one image alone may change a byte.
Each render here runs in a fresh interpreter, as a farm worker or a resumed render would.
"""

import hashlib
import json
import subprocess
import sys

import pytest

from tests.blender.conftest import small_spec

pytestmark = pytest.mark.blender

RENDER_CHILD = """
import sys
from synthreid.workers.embedded import render_dataset
from synthreid.render.spec import DatasetSpec
spec = DatasetSpec.from_dict(__import__("json").loads(sys.argv[1]))
render_dataset(spec, sys.argv[2], workers=int(sys.argv[3]), progress=False)
"""


def _render(spec, out, workers: int) -> None:
    res = subprocess.run(
        [sys.executable, "-c", RENDER_CHILD, spec.to_json(), str(out), str(workers)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]


def _digests(root) -> dict[str, str]:
    return {
        f"{sub}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("images", "masks")
        for p in sorted((root / sub).iterdir())
    }


def test_fresh_warm_threads_and_lone_rerender_give_identical_bytes(tmp_path):
    # Denoising on: the denoiser is the stage most likely to depend on threads.
    base = small_spec(characters=2, output={"size": [32, 64]}, render={"denoise": True, "samples": 4})
    one_thread = base.replace(render={**json.loads(base.to_json())["render"], "threads": 1})
    two_threads = base.replace(render={**json.loads(base.to_json())["render"], "threads": 2})
    a, b = tmp_path / "a", tmp_path / "b"
    _render(one_thread, a, workers=1)  # one warm process renders both characters in turn
    _render(two_threads, b, workers=2)  # one fresh process per character, two threads each
    da, db = _digests(a), _digests(b)
    assert len(da) == 2 * 2 * 2
    assert da == db

    # Re-render one image alone in a fresh process (what `--resume`, repair and rerender do).
    victim = sorted((b / "images").iterdir())[-1]
    victim.unlink()
    _render(two_threads, b, workers=1)
    assert _digests(b) == da
