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
    args = p.parse_args(
        [
            "refine",
            "train",
            "--source",
            "S",
            "--target",
            "T",
            "--model",
            "ptgan",
            "--target-masks",
            "M",
            "--size",
            "128x256",
            "--iters",
            "7",
        ]
    )
    assert args.model == "ptgan" and args.iters == 7 and callable(args.func)
    assert (args.size.width, args.size.height) == (128, 256)
    args = p.parse_args(["refine", "apply", "RUN", "--source", "S", "--name", "N"])
    assert args.run == "RUN" and args.name == "N" and callable(args.func)


def test_cli_train_then_apply(tmp_path, capsys):
    src = make_source(tmp_path / "dsA", n_ids=2, per_id=2, size=(32, 16))
    tgt, _ = make_target(tmp_path / "target", n=3, size=(32, 16))
    run = tmp_path / "run"
    rc = main(
        [
            "refine",
            "train",
            "--source",
            str(src),
            "--target",
            str(tgt),
            "--size",
            "16x32",
            "--iters",
            "2",
            "--generator",
            "resnet_6blocks",
            "--ngf",
            "4",
            "--ndf",
            "4",
            "--n-layers-d",
            "2",
            "--workers",
            "0",
            "--out",
            str(run),
            "--device",
            "cpu",
        ]
    )
    assert rc == 0 and (run / "checkpoints" / "last.pt").is_file()
    rc = main(
        [
            "refine",
            "apply",
            str(run),
            "--source",
            str(src),
            "--name",
            "dsA-R",
            "--workers",
            "0",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    assert Dataset(tmp_path / "dsA-R").manifest["kind"] == "refined"


def test_cli_errors_are_one_line(tmp_path, capsys):
    src = make_source(tmp_path / "dsA", n_ids=2, per_id=1)
    tgt, _ = make_target(tmp_path / "target", n=2)
    rc = main(["refine", "train", "--source", str(src), "--target", str(tgt), "--model", "ptgan"])
    assert rc == 2
    assert "target_masks" in capsys.readouterr().err
    rc = main(["refine", "train", "--source", str(src), "--target", str(tgt), "--size", "16x30"])
    assert rc == 2
    assert "divisible by 4" in capsys.readouterr().err
    rc = main(["refine", "train", "--source", str(src), "--target", str(tgt), "--size", "16x32"])
    assert rc == 2
    assert "too small for a 3-layer PatchGAN" in capsys.readouterr().err


def _train_config(argv):
    from synthreid.refine.cli import config_from_args

    return config_from_args(
        build_parser().parse_args(["refine", "train", "--source", "S", "--target", "T", *argv])
    )


def test_size_is_width_x_height_like_render():
    """``--size 64x128`` is 64 wide and 128 high, as for ``render``; the config holds (H, W)."""
    c = _train_config(["--size", "64x128"])
    assert c.size == (128, 64)
    assert c.to_dict()["size"] == "64x128"
    assert _train_config([]).size == (128, 64)  # the default is the same portrait crop
    assert _train_config(["--size", "128x256"]).size == (256, 128)


def test_landscape_size_is_refused_unless_forced(capsys):
    rc = main(["refine", "train", "--source", "S", "--target", "T", "--size", "128x64"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "landscape" in err and "64x128" in err and "--force-landscape" in err
    assert len(err.strip().splitlines()) == 1
    c = _train_config(["--size", "128x64", "--force-landscape"])
    assert c.size == (64, 128) and c.allow_landscape


def test_threads_and_workers_defaults_fit_the_machine():
    from synthreid.cliutil import available_cores

    for cmd in (
        ["train", "--source", "S", "--target", "T"],
        ["apply", "RUN", "--source", "S", "--name", "N"],
    ):
        args = build_parser().parse_args(["refine", *cmd])
        assert args.threads is None  # resolved to available_cores() when the command runs
        assert 0 <= args.workers < max(2, available_cores())
        args = build_parser().parse_args(["refine", *cmd, "--threads", "3", "--workers", "0"])
        assert args.threads == 3 and args.workers == 0
