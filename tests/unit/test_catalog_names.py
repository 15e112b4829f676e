"""``catalog:NAME`` datasets: benchmark runs, refiners, studies and farm jobs name a dataset of
the catalog (imported or rendered) instead of giving its folder (synthreid.catalog_names)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from synthreid.catalog_names import CatalogNameError, resolve_dataset, resolve_datasets
from synthreid.cli import build_parser, main
from synthreid.errors import DatasetError
from synthreid.workers.catalog import open_catalog
from synthreid.workers.config import FarmConfig

from .study.study_fixtures import RECIPE
from .study.study_fixtures import make_market as make_market_pil

TINY_TRAIN = [
    "--arch",
    "tiny",
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--val-ids",
    "2",
    "--workers",
    "0",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--protocol",
    "market",
    "--quiet",
]


def _data_dir() -> Path:
    return Path(os.environ["SYNTHREID_DATA_DIR"])


@pytest.fixture
def market(tmp_path):
    """A Market-1501 folder made here (PIL crops) and imported into the tmp catalog as ``mk``."""
    root = make_market_pil(tmp_path / "Market-fixture", seed=1)
    assert main(["import", str(root), "--format", "market1501", "--name", "mk", "-q"]) == 0
    return root.resolve()


def test_imported_name_resolves_to_its_folder_and_format(market):
    ds = resolve_dataset("catalog:mk")
    assert (ds.name, ds.kind, ds.folder, ds.format) == ("mk", "imported", market, "market1501")
    assert ds.image_folder() == market / "bounding_box_train"
    assert resolve_datasets([str(market), "catalog:mk"]) == {
        "catalog:mk": ds
    }  # a plain folder stays a folder


def test_rendered_name_resolves_to_the_data_dir(market):
    folder = _data_dir() / "datasets" / "synth"
    (folder / "images").mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    cat = open_catalog(FarmConfig.from_env())
    try:
        dsid = cat.begin_rendered_dataset("synth", {"name": "synth"}, 1, 1)
        with pytest.raises(CatalogNameError, match="not finished yet"):
            resolve_dataset("catalog:synth")
        cat.mark_finalized(dsid)
    finally:
        cat.close()
    ds = resolve_dataset("catalog:synth")
    assert (ds.kind, ds.folder, ds.format) == ("rendered", folder, "synthreid")
    assert ds.image_folder() == folder / "images"


def test_benchmark_train_and_eval_on_a_catalog_name(market, tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)  # the default run folder runs/... is named after the catalog name
    assert (
        main(
            [
                "benchmark",
                "train",
                "--train",
                "catalog:mk",
                "--val",
                "catalog:mk",
                "--test",
                "catalog:mk",
                *TINY_TRAIN,
            ]
        )
        == 0
    )
    run = tmp_path / "runs" / "tiny-mk-s0"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"] == [str(market)] and cfg["val"] == str(market) and cfg["test"] == [str(market)]
    assert cfg["train_format"] == cfg["val_format"] == cfg["test_format"] == "market1501"
    assert set(json.loads((run / "metrics.json").read_text())) == {f"{market.name}:market"}
    capsys.readouterr()
    assert main(["benchmark", "eval", str(run), "--test", "catalog:mk", "--workers", "0", "--quiet"]) == 0
    assert "r1=" in capsys.readouterr().out


def test_a_format_that_contradicts_the_catalog_is_refused(market, tmp_path, capsys):
    rc = main(
        [
            "benchmark",
            "train",
            "--train",
            "catalog:mk",
            "--val",
            "catalog:mk",
            "--format",
            "cuhk03np",
            "--out",
            str(tmp_path / "run"),
            *TINY_TRAIN,
        ]
    )
    assert rc == 2
    assert "catalog:mk is a market1501 dataset" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_unknown_name_says_did_you_mean_and_how_to_list(market, tmp_path, capsys):
    with pytest.raises(CatalogNameError) as exc:
        resolve_dataset("catalog:mkk")
    msg = str(exc.value)
    assert "no dataset named 'mkk'" in msg and "did you mean 'mk'" in msg and "synthreid status" in msg
    rc = main(
        [
            "benchmark",
            "train",
            "--train",
            "catalog:market",
            "--val",
            "catalog:mk",
            "--out",
            str(tmp_path / "run"),
            *TINY_TRAIN,
        ]
    )
    assert rc == 2 and "catalog:market: no dataset named 'market'" in capsys.readouterr().err


def test_no_catalog_is_said_and_none_is_created(tmp_path, capsys):
    sqlite = _data_dir() / "catalog.sqlite3"
    with pytest.raises(CatalogNameError, match="no catalog is configured.*SYNTHREID_DATABASE_URL is not set"):
        resolve_dataset("catalog:mk")
    rc = main(["refine", "train", "--source", "catalog:synth", "--target", str(tmp_path), "--iters", "1"])
    assert rc == 2 and "no catalog is configured" in capsys.readouterr().err
    assert not sqlite.exists()


def test_refine_train_target_is_the_training_images_and_source_must_be_ours(market):
    from synthreid.refine.cli import resolve_catalog_datasets

    args = build_parser().parse_args(["refine", "train", "--source", "synth", "--target", "catalog:mk"])
    args.catalog_resolver = resolve_datasets
    assert resolve_catalog_datasets(args) == {"target": "mk"}
    assert args.target == str(market / "bounding_box_train") and args.source == "synth"
    args = build_parser().parse_args(["refine", "train", "--source", "catalog:mk", "--target", "x"])
    args.catalog_resolver = resolve_datasets
    with pytest.raises(DatasetError, match="--source catalog:mk: an imported market1501 dataset"):
        resolve_catalog_datasets(args)


STUDY = """
name = "cat"
seeds = [0]
{recipe}
[[arms]]
name = "A"
kind = "dataset"
path = "{arm}"

[[test_sets]]
name = "real"
path = "{test}"

[baselines]
chance = false
untrained = false
handcrafted = false
real_anchor = false
"""


def test_study_dataset_arm_and_test_set_by_catalog_name_plan_on_the_folder(market, tmp_path):
    from synthreid.study.cache import StepCache
    from synthreid.study.fingerprint import FingerprintMemo
    from synthreid.study.spec import load_study
    from synthreid.study.steps import plan

    real = make_market_pil(tmp_path / "real", seed=3)
    assert main(["import", str(real), "--format", "market1501", "--name", "real-test", "-q"]) == 0
    by_name, by_folder = tmp_path / "by-name.toml", tmp_path / "by-folder.toml"
    by_name.write_text(STUDY.format(recipe=RECIPE, arm="catalog:mk", test="catalog:real-test"))
    by_folder.write_text(STUDY.format(recipe=RECIPE, arm=market, test=real))
    spec, ref = load_study(by_name), load_study(by_folder)
    assert (spec.arms[0].path, spec.arms[0].format) == (str(market), "market1501")
    assert (spec.test_sets[0].path, spec.test_sets[0].format) == (str(real.resolve()), "market1501")
    cache = StepCache(tmp_path / "cache")
    steps, ref_steps = plan(spec, cache, FingerprintMemo(None)), plan(ref, cache, FingerprintMemo(None))
    assert [s.stage for s in steps] == ["train", "evaluate"]
    assert steps[0].params["config"]["train"] == [str(market)]
    # keyed by the folder's content: the same keys as naming the folder itself
    assert [(s.stage, s.key) for s in steps] == [(s.stage, s.key) for s in ref_steps]
    first, second = sorted((market / "bounding_box_train").iterdir())[:2]
    first.write_bytes(second.read_bytes())  # another picture in the imported folder: another key
    changed = plan(load_study(by_name), cache, FingerprintMemo(None))
    assert changed[0].key != steps[0].key


def test_study_unknown_catalog_name_names_the_field(market, tmp_path):
    from synthreid.study.spec import StudySpecError, load_study

    path = tmp_path / "s.toml"
    path.write_text(STUDY.format(recipe=RECIPE, arm="catalog:mkx", test="catalog:mk"))
    with pytest.raises(StudySpecError) as exc:
        load_study(path)
    assert exc.value.field == "arms[0].path" and "did you mean 'mk'" in str(exc.value)


def test_submit_passes_imported_names_on_for_the_job_to_resolve(market):
    from synthreid.workers.gpu_tasks import catalog_known, submit_job
    from synthreid.workers.jobs import JobError, build_plan

    config = FarmConfig.from_env()
    cat = open_catalog(config)
    try:
        plan, task_id = submit_job(
            cat,
            config,
            "benchmark-train",
            "b1",
            ["--train", "catalog:mk", "--val", "mk", "--test", "catalog:mk"],
        )
        assert plan.argv[plan.argv.index("--train") + 1] == "catalog:mk"
        assert plan.argv[plan.argv.index("--val") + 1] == "catalog:mk"
        assert plan.inputs == {"train": ["mk"], "val": ["mk"], "test": ["mk"]}
        # the worker rebuilds the plan against the same catalog
        again = build_plan(
            cat.get_task(task_id).payload, config.data_dir, catalog_known(cat, config.data_dir)
        )
        assert again.argv == plan.argv
        with pytest.raises(JobError, match="no dataset of that name"):
            submit_job(cat, config, "benchmark-train", "b2", ["--train", "catalog:nope", "--val", "mk"])
    finally:
        cat.close()
    args = build_parser().parse_args(plan.argv)
    args.catalog_resolver = resolve_datasets
    from synthreid.benchmark.cli import resolve_catalog_datasets

    resolve_catalog_datasets(args, ("train", "val", "test"))
    assert args.train == [market] and args.val == market and args.train_format == "market1501"


def test_benchmark_and_refine_commands_do_not_import_the_farm():
    import subprocess
    import sys

    code = (
        "import sys, synthreid.benchmark.cli, synthreid.refine.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('synthreid.workers', 'synthreid.catalog_names'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
