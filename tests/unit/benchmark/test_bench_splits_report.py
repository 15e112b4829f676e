"""CUHK03 classic multi-split runs, and the report: split aggregation, mINP, headlines, CMC plot."""

import csv
import io
import json

import numpy as np
import pytest

from synthreid.benchmark import protocols, report, runs, splits
from synthreid.benchmark.datasets import read_dataset
from synthreid.cli import main
from synthreid.errors import SynthreidError
from synthreid.fsutil import write_json

from .bench_fixtures import make_openreid, make_synth_dataset


def fake_run(path, metrics, **config):
    """A run directory with hand-written config.json and metrics.json (no training)."""
    path.mkdir(parents=True)
    write_json(path / "config.json", {"train": ["a"], "arch": "tiny", "seed": 0, "split_id": 0, **config})
    write_json(path / "metrics.json", metrics)
    return path


def result(rank1, m_ap=None, m_inp=None, protocol="cuhk03-classic", dataset="cuhk03", n=30):
    cmc = np.minimum(1.0, rank1 + np.arange(n) * 0.05).tolist()
    return {
        "protocol": protocol,
        "dataset": dataset,
        "cmc": cmc,
        "rank1": cmc[0],
        "rank5": cmc[4],
        "rank10": cmc[9],
        "rank20": cmc[19],
        "mAP": m_ap,
        "mINP": m_inp,
        "best_epoch": 1,
    }


def test_parse_splits(tmp_path):
    make_openreid(tmp_path / "cuhk03", n_splits=4)
    synth = make_synth_dataset(tmp_path / "s", n_ids=3, per_id=2)
    paths = [synth, tmp_path / "cuhk03"]
    assert splits.parse_splits("all", paths) == [0, 1, 2, 3]
    assert splits.parse_splits("3,0", paths) == [0, 3]
    assert splits.parse_splits("1-3", paths) == [1, 2, 3]
    with pytest.raises(SynthreidError, match="0..3"):
        splits.parse_splits("4", paths)
    with pytest.raises(SynthreidError, match="expected 'all'"):
        splits.parse_splits("one", paths)
    with pytest.raises(SynthreidError, match="Open-ReID"):
        splits.parse_splits("all", [synth])


def test_aggregate_mean_and_std():
    agg = splits.aggregate(
        [{**result(0.2, 0.3, 0.1), "split_id": 0}, {**result(0.4, 0.5, None), "split_id": 1}]
    )
    assert agg["splits"] == 2 and agg["split_ids"] == [0, 1]
    assert agg["rank1"] == pytest.approx(0.3) and agg["rank1_std"] == pytest.approx(0.1)
    assert agg["mAP"] == pytest.approx(0.4) and agg["mAP_std"] == pytest.approx(0.1)
    assert agg["mINP"] is None  # missing in one split: not averaged
    assert agg["cmc"][0] == pytest.approx(0.3) and len(agg["cmc_std"]) == 30


def test_cuhk03_classic_reports_minp(tmp_path):
    make_openreid(tmp_path / "cuhk03")
    ds = read_dataset(tmp_path / "cuhk03", num_val=0)

    def extract(records):
        return np.eye(8, dtype=np.float32)[[r.pid for r in records]]

    res = protocols.evaluate("cuhk03", ds, extract)
    assert res["mINP"] == pytest.approx(1.0) and res["split_id"] == 0


def test_report_aggregates_split_runs_given_one_by_one(tmp_path):
    for s, r1 in enumerate((0.2, 0.4, 0.6)):
        fake_run(
            tmp_path / "exp" / f"split-{s:02d}",
            {"cuhk03:cuhk03-classic": {**result(r1, 0.5), "split_id": s}},
            split_id=s,
        )
    other = fake_run(tmp_path / "other", {"cuhk03:cuhk03-classic": result(0.9, 0.95, 0.8)}, arch="inception")
    members = [tmp_path / "exp" / f"split-{s:02d}" for s in range(3)]
    summary, detail = report.collect([*members, other])
    assert [r["run"] for r in summary] == ["exp", "other"]
    assert summary[0]["splits"] == 3 and summary[0]["rank1"] == pytest.approx(40.0)
    assert summary[0]["rank1_std"] == pytest.approx(100 * np.std([0.2, 0.4, 0.6]))
    assert [r["split"] for r in detail] == [None, 0, 1, 2, None]
    paths = report.make_report([*members, other], tmp_path / "rep")
    md = paths["md"].read_text()
    assert "- **exp**: rank-1 40.0 ± 16.3 on cuhk03 (cuhk03-classic, 3 splits)" in md
    assert "- **other**: rank-1 90.0 on cuhk03" in md
    assert "| mINP |" in md and "| 80.0 |" in md
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert [r["split"] for r in rows] == ["", "0", "1", "2", ""] and rows[1]["rank1"] == "20.0000"
    assert rows[0]["splits"] == "3" and float(rows[0]["rank1_std"]) == pytest.approx(16.3299, abs=1e-3)


def test_same_split_twice_is_not_a_split_group(tmp_path):
    a = fake_run(tmp_path / "a", {"k": result(0.2)})
    summary, _ = report.collect([a, a])
    assert len(summary) == 2 and summary[0].get("splits") is None


def test_cmc_plot_readable_for_ten_runs(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figs = []
    monkeypatch.setattr(plt, "close", lambda fig: figs.append(fig))
    rows = [report._row(f"run-{i}", "k", result(0.05 * i)) for i in range(10)]
    report.plot_cmc(rows, tmp_path / "cmc.png")
    ax = figs[0].axes[0]
    assert ax.get_xlim() == (1, 20) and max(len(line.get_xdata()) for line in ax.lines) == 20
    figs[0].canvas.draw()
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1  # outside, right of the curves
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == 10 and texts[0].startswith("run-9 /")  # best rank-1 first
    styles = {(line.get_color(), line.get_marker()) for line in ax.lines}
    assert len(styles) == 10
    report.plot_cmc(rows[:2], tmp_path / "c5.png", max_rank=5)
    assert figs[1].axes[0].get_xlim() == (1, 5)
    with pytest.raises(runs.RunError, match="max_rank"):
        report.make_report([], tmp_path / "r", max_rank=0)


@pytest.mark.torch
def test_cli_cuhk03_all_splits_end_to_end(tmp_path, capsys):
    pytest.importorskip("torch")
    cuhk = tmp_path / "cuhk03"
    make_openreid(cuhk, n_ids=12, n_splits=2)  # 10 trainval identities: 2 carved out for validation
    run = tmp_path / "run"
    args = [
        "benchmark",
        "train",
        "--train",
        str(cuhk),
        "--val",
        str(cuhk),
        "--test",
        str(cuhk),
        "--protocol",
        "cuhk03",
        "--splits",
        "all",
        "--arch",
        "tiny",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--workers",
        "0",
        "--height",
        "64",
        "--width",
        "32",
        "--out",
        str(run),
        "--quiet",
    ]
    assert main(args) == 0
    assert "2 splits, mean" in capsys.readouterr().out
    split_sets = []
    for s in range(2):
        m = runs.load_metrics(run / f"split-{s:02d}")
        assert m["cuhk03:cuhk03-classic"]["split_id"] == s
        split_sets.append(json.loads((run / f"split-{s:02d}" / "config.json").read_text())["split_id"])
    assert split_sets == [0, 1]
    parent = runs.load_metrics(run)["cuhk03:cuhk03-classic"]
    assert parent["splits"] == 2 and parent["split_ids"] == [0, 1] and parent["rank1_std"] is not None
    assert json.loads((run / "config.json").read_text())["splits"] == [0, 1]
    # a second eval on the parent re-tests every split and refreshes the aggregate
    assert (
        main(
            [
                "benchmark",
                "eval",
                str(run),
                "--test",
                str(cuhk),
                "--protocol",
                "thesis",
                "--workers",
                "0",
                "--quiet",
            ]
        )
        == 0
    )
    assert runs.load_metrics(run)["cuhk03:thesis"]["splits"] == 2
    assert main(["benchmark", "report", str(run), "--out", str(tmp_path / "rep"), "--max-rank", "10"]) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "rep" / "report.csv").read_text())))
    assert [r["split"] for r in rows if r["protocol"] == "cuhk03-classic"] == ["", "0", "1"]
    # other settings on the same parent are refused before any training
    rc = main([*args[:-3], "--lr", "0.5", "--out", str(run), "--quiet"])
    assert rc == 2 and "different settings ['lr']" in capsys.readouterr().err


def test_thesis_minp_is_mean_reciprocal_rank(tmp_path):
    ds = read_dataset(make_synth_dataset(tmp_path / "d", n_ids=12, per_id=4))

    def extract(records):  # noisy identity features: true matches land at assorted ranks
        f = np.eye(16, dtype=np.float32)[[r.pid for r in records]]
        return f + 0.6 * np.random.default_rng(0).standard_normal(f.shape).astype(np.float32)

    res = protocols.evaluate("thesis", ds, extract, draws=2)
    pool = ds.test_pool()
    want = []
    for q, g in protocols.thesis_draws(pool, 100, 2, 0):
        f = extract(pool)
        d = protocols.pairwise_distance(f[q], f[g])
        want += [1.0 / (1 + int((d[i] < d[i, i]).sum())) for i in range(len(q))]
    assert res["mINP"] == pytest.approx(np.mean(want)) and res["rank1"] < res["mINP"] < 1.0
