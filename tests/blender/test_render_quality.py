"""The render quality guard script (perf/render_quality.py) on a tiny render: it passes a
candidate equal to today's settings and fails a clearly worse one."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.blender

SCRIPT = Path(__file__).resolve().parents[2] / "perf" / "render_quality.py"


def _guard():
    spec = importlib.util.spec_from_file_location("render_quality", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TINY = ["--images", "2", "--size", "24x48", "--reference-samples", "64", "--workers", "1"]


def test_guard_passes_today_and_fails_a_worse_setting(tmp_path, capsys):
    guard = _guard()
    assert guard.main([*TINY, "--out", str(tmp_path / "same")]) == 0
    out = capsys.readouterr().out
    assert "candidate vs today: +0.00 dB PSNR, +0.0000 SSIM" in out and "PASS" in out
    # 1 spp without the denoiser is far noisier than 16 spp denoised
    assert (
        guard.main([*TINY, "--candidate", "samples=1,denoise=false", "--out", str(tmp_path / "worse")]) == 1
    )
    out = capsys.readouterr().out
    assert "FAIL" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if len(line.split()) == 4}
    assert 5 < float(rows["candidate"][1]) < float(rows["today"][1]) < 80
