"""Protocols with a synthetic feature extractor; CLI train -> eval -> report end to end."""

import json

import numpy as np
import pytest

from synthreid.benchmark import protocols
from synthreid.benchmark.datasets import read_dataset
from synthreid.cli import main
from synthreid.errors import DatasetError

from .bench_fixtures import make_cuhk03np, make_openreid, make_synth_dataset


def oracle(noise=0.0, seed=0):
    """Features that encode the identity (perfect re-ID when noise is small)."""
    rng = np.random.default_rng(seed)

    def extract(records):
        f = np.zeros((len(records), 64), np.float32)
        for i, r in enumerate(records):
            f[i, r.pid % 64] = 1.0
        return f + noise * rng.standard_normal(f.shape).astype(np.float32)

    return extract


def test_thesis_draws_seeded_cross_camera(tmp_path):
    ds = read_dataset(make_synth_dataset(tmp_path / "d", n_ids=12, per_id=4, n_cams=2))
    pool = ds.test_pool()
    a = protocols.thesis_draws(pool, num_ids=10, draws=3, seed=5)
    assert a == protocols.thesis_draws(pool, num_ids=10, draws=3, seed=5)
    assert a != protocols.thesis_draws(pool, num_ids=10, draws=3, seed=6)
    for q, g in a:
        assert len(q) == len(g) == 10 and len({pool[i].pid for i in q}) == 10
        assert all(
            pool[i].pid == pool[j].pid and pool[i].camid != pool[j].camid for i, j in zip(q, g, strict=True)
        )


def test_thesis_protocol_mean_and_spread(tmp_path):
    ds = read_dataset(make_synth_dataset(tmp_path / "d", n_ids=12, per_id=4))
    perfect = protocols.evaluate("thesis", ds, oracle(), draws=4)
    assert perfect["rank1"] == 1.0 and perfect["rank1_std"] == 0.0 and perfect["num_ids"] == 12
    noisy = protocols.evaluate("thesis", ds, oracle(noise=2.0), draws=4)
    assert noisy["rank1"] < 1.0 and noisy["rank1_std"] > 0.0
    assert noisy["rank20"] == pytest.approx(1.0)  # only 12 identities: rank 12+ always matches


def test_validation_score_is_cmc_area(tmp_path):
    ds = read_dataset(make_synth_dataset(tmp_path / "d", n_ids=6, per_id=2))
    draw = protocols.thesis_draws(ds.val, draws=1)[0]
    assert protocols.validation_score(oracle()(ds.val), ds.val, draw) == pytest.approx(100.0)


def test_cuhk03_classic_and_new(tmp_path):
    make_openreid(tmp_path / "cuhk03")
    classic = protocols.evaluate("cuhk03", read_dataset(tmp_path / "cuhk03", num_val=0), oracle())
    assert (
        classic["protocol"] == "cuhk03-classic"
        and classic["rank1"] == pytest.approx(1.0)
        and classic["mAP"] == 1.0
    )
    make_cuhk03np(tmp_path / "np")
    new = protocols.evaluate("cuhk03", read_dataset(tmp_path / "np", num_val=0), oracle())
    assert new["protocol"] == "cuhk03-new" and new["rank1"] == 1.0 and new["mINP"] == 1.0
    with pytest.raises(DatasetError, match="protocol 'x'"):
        protocols.evaluate("x", read_dataset(tmp_path / "np"), oracle())


@pytest.mark.torch
def test_cli_train_eval_report(tmp_path, capsys):
    pytest.importorskip("torch")
    ds = make_synth_dataset(tmp_path / "ds", n_ids=8, per_id=4)
    run = tmp_path / "run"
    rc = main(
        [
            "benchmark",
            "train",
            "--train",
            str(ds),
            "--val",
            str(ds),
            "--test",
            str(ds),
            "--arch",
            "tiny",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--workers",
            "0",
            "--draws",
            "2",
            "--out",
            str(run),
            "--quiet",
        ]
    )
    assert rc == 0
    assert "r1=" in capsys.readouterr().out
    assert (
        main(
            [
                "benchmark",
                "eval",
                str(run),
                "--test",
                str(ds),
                "--protocol",
                "market",
                "--workers",
                "0",
                "--quiet",
            ]
        )
        == 0
    )
    assert set(json.loads((run / "metrics.json").read_text())) == {"ds:thesis", "ds:market"}
    assert main(["benchmark", "report", str(run), str(run), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert md.count("| run | test |") == 1 and md.count("| run | ds |") == 4 and "±" in md
    assert (tmp_path / "rep" / "cmc.png").stat().st_size > 1000
    assert (tmp_path / "rep" / "report.csv").read_text().startswith("run,test,protocol,rank1")


def test_pairwise_distance_is_squared_euclidean():
    rng = np.random.default_rng(0)
    q, g = rng.standard_normal((5, 7)), rng.standard_normal((9, 7))
    want = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(protocols.pairwise_distance(q, g), want, rtol=1e-4, atol=1e-4)


def test_cli_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, synthreid.benchmark.cli as c, argparse; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_errors_are_one_line(tmp_path, capsys):
    rc = main(["benchmark", "report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert rc == 2 and "nope/config.json: missing" in capsys.readouterr().err
    ds = make_synth_dataset(tmp_path / "ds", n_ids=3, per_id=2)
    assert main(["benchmark", "export", str(ds), "--format", "openreid", "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "meta.json").is_file()
    rc = main(
        [
            "benchmark",
            "train",
            "--train",
            str(tmp_path),
            "--val",
            str(ds),
            "--arch",
            "tiny",
            "--out",
            str(tmp_path / "bad"),
            "--workers",
            "0",
        ]
    )
    assert rc == 2 and "unknown dataset format" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()  # nothing written for a run that could not start


def test_thesis_draws_need_two_images(tmp_path):
    ds = read_dataset(make_synth_dataset(tmp_path / "d", n_ids=3, per_id=1))
    with pytest.raises(DatasetError, match="2 or more images"):
        protocols.thesis_draws(ds.test_pool())
