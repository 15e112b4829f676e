"""The report lists every arm, anchor, baseline and test set, with spreads, figures and timing."""

import csv

from synthreid.study.runner import run_study
from synthreid.study.spec import load_study

from .study_fixtures import ARMS, study_text, write_study

TESTS = """
[[test_sets]]
name = "real"
path = "real"

[[test_sets]]
name = "other"
path = "c"
protocol = "thesis"
"""


def test_report_has_every_arm_baseline_and_test_set(data):
    spec = load_study(
        write_study(data, study_text(ARMS, TESTS, seeds="[0, 1]", extra="[baselines]\nchance_draws = 4"))
    )
    outcome = run_study(spec, data / "out", progress=False, stream=None)
    out = data / "out"
    rows = list(csv.DictReader((out / "report.csv").open()))
    names = ["A", "B", "real-real", "real-other", "untrained tiny", "hand-crafted (LOMO-like)", "chance"]
    for test in ("real", "other"):
        got = [r["name"] for r in rows if r["test"] == test]
        assert got == names
        for r in rows:
            assert 0.0 <= float(r["rank1"]) <= 100.0
    by = {(r["name"], r["test"]): r for r in rows}
    assert by["A", "real"]["n"] == "2" and by["A", "real"]["rank1_std"] != ""  # spread over the two seeds
    assert by["chance", "real"]["n"] == "1" and by["chance", "real"]["rank1_std"] != ""  # spread over draws
    assert by["A", "other"]["protocol"] == "thesis" and by["A", "other"]["mAP"] == ""  # thesis has no mAP
    seeds = list(csv.DictReader((out / "seeds.csv").open()))
    assert sorted({(r["name"], r["seed"]) for r in seeds if r["test"] == "real" and r["name"] == "B"}) == [
        ("B", "0"),
        ("B", "1"),
    ]
    md = (out / "report.md").read_text()
    for text in [
        *names,
        "## real (market protocol)",
        "## other (thesis protocol)",
        "cmc-real.png",
        "cmc-other.png",
        "bars.png",
        "study overhead",
        "real-trained anchor",
    ]:
        assert text in md, text
    for png in ("cmc-real.png", "cmc-other.png", "bars.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    timing = list(csv.DictReader((out / "timing.csv").open()))
    stages = {(r["arm"], r["stage"]) for r in timing}
    assert {
        ("A", "train"),
        ("A", "evaluate"),
        ("B", "train"),
        ("real-real", "train"),
        ("baselines", "chance"),
        ("baselines", "handcrafted"),
        ("baselines", "untrained"),
    } <= stages
    assert all(float(r["seconds"]) > 0 for r in timing)
    assert outcome.wall_seconds >= outcome.work_seconds > 0
