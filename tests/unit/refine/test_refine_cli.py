import subprocess
import sys

import pytest

from synthreid.cli import build_parser, main
from synthreid.dataset import Dataset

from .refine_helpers import make_source, make_target

pytestmark = pytest.mark.torch


def test_help_does_not_import_torch():
    code = "import sys, synthreid.cli as c; c.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_parser_has_train_and_apply():
    p = build_parser()
    args = p.parse_args(["refine", "train", "--source", "S", "--target", "T", "--model", "ptgan",
                         "--target-masks", "M", "--size", "256x128", "--iters", "7"])
    assert args.model == "ptgan" and args.size == "256x128" and args.iters == 7 and callable(args.func)
    args = p.parse_args(["refine", "apply", "RUN", "--source", "S", "--name", "N"])
    assert args.run == "RUN" and args.name == "N" and callable(args.func)


def test_cli_train_then_apply(tmp_path, capsys):
    src = make_source(tmp_path / "dsA", n_ids=2, per_id=2, size=(32, 16))
    tgt, _ = make_target(tmp_path / "target", n=3, size=(32, 16))
    run = tmp_path / "run"
    rc = main(["refine", "train", "--source", str(src), "--target", str(tgt), "--size", "32x16",
               "--iters", "2", "--generator", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--n-layers-d", "2", "--workers", "0", "--out", str(run),
               "--device", "cpu"])
    assert rc == 0 and (run / "checkpoints" / "latest.pt").is_file()
    rc = main(["refine", "apply", str(run), "--source", str(src), "--name", "dsA-R", "--workers", "0",
               "--device", "cpu"])
    assert rc == 0
    assert Dataset(tmp_path / "dsA-R").manifest["kind"] == "refined"


def test_cli_errors_are_one_line(tmp_path, capsys):
    src = make_source(tmp_path / "dsA", n_ids=2, per_id=1)
    tgt, _ = make_target(tmp_path / "target", n=2)
    rc = main(["refine", "train", "--source", str(src), "--target", str(tgt), "--model", "ptgan"])
    assert rc == 2
    assert "target_masks" in capsys.readouterr().err
    rc = main(["refine", "train", "--source", str(src), "--target", str(tgt), "--size", "30x16"])
    assert rc == 2
    assert "divisible by 4" in capsys.readouterr().err
    rc = main(["refine", "train", "--source", str(src), "--target", str(tgt), "--size", "32x16"])
    assert rc == 2
    assert "too small for a 3-layer PatchGAN" in capsys.readouterr().err
