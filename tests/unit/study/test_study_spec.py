"""Study files: parsed into typed values, bad ones refused before any work with the field named."""

import pytest

from synthreid.cli import main
from synthreid.study.spec import ArmKind, StudySpecError, load_study

from .study_fixtures import ARMS, study_text, write_study

TESTS = """
[[test_sets]]
name = "real"
path = "real"
protocol = "market"
"""


def refused(folder, text, field, *fragments):
    path = write_study(folder, text)
    with pytest.raises(StudySpecError) as exc:
        load_study(path)
    assert exc.value.field == field, str(exc.value)
    for f in fragments:
        assert f in str(exc.value)
    return str(exc.value)


def test_valid_study_resolves_paths_against_its_folder_and_adds_anchors(data, tmp_path, monkeypatch):
    monkeypatch.chdir("/")  # relative paths must not depend on the working directory
    spec = load_study(
        write_study(
            tmp_path,
            study_text(
                ARMS
                + """
[[arms]]
name = "AB"
kind = "mix"
arms = ["A", "B"]
ratio = [3, 1]
recipe = { lr = 0.01 }
""",
                TESTS,
                seeds="[0, 1, 2]",
            ),
        )
    )
    assert spec.seeds == (0, 1, 2)
    assert [a.name for a in spec.arms] == ["A", "B", "AB", "real-real"]
    a, _, ab, anchor = spec.arms
    assert a.kind is ArmKind.DATASET and a.path == str(tmp_path / "a") and a.format == "market1501"
    assert ab.parts == ("A", "B") and ab.ratio == (3.0, 1.0)
    assert spec.arm_recipe(ab)["lr"] == 0.01 and spec.arm_recipe(a)["lr"] == 0.05
    assert anchor.anchor and anchor.path == str(tmp_path / "real")
    assert spec.test_sets[0].path == str(tmp_path / "real") and spec.test_sets[0].protocol == "market"


def test_render_arm_scale_and_size(data, tmp_path):
    spec = load_study(
        write_study(
            tmp_path,
            study_text(
                """
[[arms]]
name = "I"
kind = "render"
preset = "I"
identities = 30
images = 4
size = [64, 128]

[[arms]]
name = "I-again"
kind = "render"
preset = "I"
identities = 30
images = 4
size = "64x128"
""",
                TESTS,
            ),
        )
    )
    r = spec.arms[0].render
    assert (r["characters"], r["images_per_character"], r["output"]["size"]) == (30, 4, [64, 128])
    assert r["splits"] == {"test": 0, "val": 3}  # every identity trains but a validation slice
    assert spec.arms[1].render == r  # same content: the two arms share one render step


def test_unknown_arm_kind_named(data, tmp_path):
    text = study_text(ARMS + '\n[[arms]]\nname = "C"\nkind = "rendr"\n', TESTS)
    msg = refused(tmp_path, text, "arms[2].kind")
    assert msg == "arms[2].kind: expected one of render, dataset, mix; got 'rendr'"


def test_missing_paths_named(data, tmp_path):
    refused(
        tmp_path,
        study_text(ARMS.replace('path = "b"', 'path = "nope"'), TESTS),
        "arms[1].path",
        "no such folder",
    )
    refused(
        tmp_path,
        study_text(ARMS, TESTS.replace('path = "real"', 'path = "gone"')),
        "test_sets[0].path",
        "no such folder",
    )
    refused(tmp_path, study_text(ARMS.replace('path = "b"\n', ""), TESTS), "arms[1].path", "missing")
    refused(
        tmp_path,
        study_text(
            ARMS
            + """
[[arms]]
name = "R"
kind = "render"
preset = "IV"
refine = { target = "no-crops", iters = 10 }
""",
            TESTS,
        ),
        "arms[2].refine.target",
        "no such folder",
    )


def test_unknown_protocol_format_and_preset_named(data, tmp_path):
    refused(
        tmp_path,
        study_text(ARMS, TESTS.replace('"market"', '"marketplace"')),
        "test_sets[0].protocol",
        "thesis, market, cuhk03",
        "'marketplace'",
    )
    refused(
        tmp_path,
        study_text(ARMS.replace('path = "a"', 'path = "a"\nformat = "csv"'), TESTS),
        "arms[0].format",
        "market1501",
    )
    refused(
        tmp_path,
        study_text('[[arms]]\nname = "X"\nkind = "render"\npreset = "V"\n', TESTS),
        "arms[0].preset",
        "IV-realistic",
    )


def test_unknown_or_study_owned_recipe_fields_named(data, tmp_path):
    refused(
        tmp_path,
        study_text(ARMS, TESTS).replace("epochs = 1", "epochs = 1\nepocs = 3"),
        "recipe.epocs",
        "unknown training field",
    )
    refused(
        tmp_path,
        study_text(ARMS, TESTS).replace("epochs = 1", "epochs = 1\nseed = 3"),
        "recipe.seed",
        "set by the study",
    )
    refused(
        tmp_path,
        study_text(ARMS.replace('path = "b"', 'path = "b"\nrecipe = { arch = "vgg" }'), TESTS),
        "arms[1].recipe",
        "vgg",
    )


def test_structure_errors_named(data, tmp_path):
    refused(tmp_path, "colour = 1\n" + study_text(ARMS, TESTS), "colour", "unknown key")
    refused(tmp_path, study_text(ARMS, TESTS) + "colour = 1\n", "test_sets[0].colour", "unknown key")
    refused(tmp_path, study_text(ARMS.replace('"B"', '"A"'), TESTS), "arms[1].name", "earlier arm")
    refused(
        tmp_path,
        study_text(ARMS + '\n[[arms]]\nname = "M"\nkind = "mix"\narms = ["A", "Z"]\n', TESTS),
        "arms[2].arms",
        "'Z'",
    )
    refused(
        tmp_path,
        study_text(ARMS + '\n[[arms]]\nname = "M"\nkind = "mix"\narms = ["A", "B"]\nratio = [1]\n', TESTS),
        "arms[2].ratio",
    )
    refused(tmp_path, study_text(ARMS, TESTS, seeds="[]"), "seeds")
    refused(
        tmp_path,
        study_text(ARMS.replace('path = "a"', 'path = "a"\nidentities = 3'), TESTS),
        "arms[0].identities",
        "unknown key",
    )


def test_cli_refuses_bad_file_before_any_work(data, tmp_path, capsys):
    path = write_study(tmp_path, study_text(ARMS.replace('"dataset"', '"datset"', 1), TESTS))
    out = tmp_path / "out"
    assert main(["study", str(path), "--out", str(out)]) == 2
    assert "arms[0].kind" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("name", ["pilot.toml", "thesis-table.toml"])
def test_shipped_study_files_are_valid(tmp_path, name):
    """The files in studies/ parse, against fixture folders laid out like ../shared/real."""
    from pathlib import Path

    from PIL import Image

    from .study_fixtures import make_market

    real = tmp_path / "shared" / "real"
    for t in ("prid", "caviar4reid", "pku-dev"):
        make_market(real / t)
    (real / "unlabelled" / "mit").mkdir(parents=True)
    Image.new("RGB", (64, 128)).save(real / "unlabelled" / "mit" / "0001.jpg")
    (tmp_path / "repo" / "studies").mkdir(parents=True)
    text = (Path(__file__).parents[3] / "studies" / name).read_text()
    spec = load_study(write_study(tmp_path / "repo" / "studies", text, name))
    assert [t.name for t in spec.test_sets] == ["prid", "caviar4reid", "pku-dev"]
    assert [a.name for a in spec.arms if a.anchor] == ["real-prid", "real-caviar4reid", "real-pku-dev"]
    refined = [a for a in spec.arms if a.refine]
    assert len(refined) == 1 and refined[0].refine.target == str(real / "unlabelled")
    renders = [a for a in spec.arms if a.kind is ArmKind.RENDER]
    assert all(a.render["output"]["size"] == [64, 128] for a in renders)


def test_root_moves_the_base_of_relative_paths(data, tmp_path):
    (tmp_path / "studies").mkdir()
    spec = load_study(write_study(tmp_path / "studies", 'root = ".."\n' + study_text(ARMS, TESTS)))
    assert spec.arms[0].path == str(tmp_path / "a")
    refused(tmp_path / "studies", 'root = "nowhere"\n' + study_text(ARMS, TESTS), "root", "no such folder")


def test_named_recipe_expands_under_explicit_fields(data, tmp_path):
    from synthreid.benchmark import recipes

    text = study_text(ARMS.replace('path = "b"', 'path = "b"\nrecipe = { lr = 0.001 }'), TESTS)
    text = text.replace('arch = "tiny"', 'recipe = "fast"\narch = "tiny"').replace("epochs = 1", "epochs = 4")
    spec = load_study(write_study(tmp_path, text))
    a, b = spec.training_fields(spec.arms[0]), spec.training_fields(spec.arms[1])
    fast = recipes.RECIPES["fast"]
    assert a["recipe"] == "fast" and a["schedule"] == fast["schedule"] and a["neck"] == fast["neck"]
    assert a["arch"] == "tiny" and a["epochs"] == 4  # given explicitly: they win over the preset
    assert b["lr"] == 0.001 and a["lr"] == 0.05
    refused(tmp_path, text.replace('recipe = "fast"', 'recipe = "fastest"'), "recipe", "fastest")


def test_degrade_occlusion_enters_the_camera_model_and_the_cache_key(data, tmp_path):
    from synthreid.study.cache import StepCache
    from synthreid.study.fingerprint import FingerprintMemo
    from synthreid.study.steps import plan

    arm = '\n[[arms]]\nname = "{name}"\nkind = "render"\npreset = "I"\nidentities = 30\nimages = 4\ndegrade = {d}\n'
    spec = load_study(
        write_study(
            tmp_path,
            study_text(
                arm.format(name="cam", d='{ preset = "surveillance" }')
                + arm.format(name="rate", d='{ preset = "surveillance", occlusion = 0.5 }')
                + arm.format(name="preset", d='{ preset = "surveillance+occlusion" }')
                + arm.format(name="table", d="{ occlusion = { rate = 0.2, kinds = { post = 1 } } }"),
                TESTS,
            ),
        )
    )
    cam, rate, preset, table = (a.degrade for a in spec.arms[:4])
    assert "occlusion" not in cam.camera_model  # arms without occlusion keep their keys
    assert rate.camera_model["occlusion"]["rate"] == 0.5 and rate.preset is None
    assert preset.camera_model["occlusion"]["rate"] == 0.3 and preset.preset == "surveillance+occlusion"
    assert table.camera_model["occlusion"]["kinds"]["post"] == 1.0
    steps = plan(spec, StepCache(tmp_path / "cache"), FingerprintMemo(None))
    keys = {s.arm: s.key for s in steps if s.stage == "degrade"}
    assert len(set(keys.values())) == 4, keys
    renders = {s.key for s in steps if s.stage == "render"}
    assert len(renders) == 1  # one render shared by the four arms

    bad = arm.format(name="x", d="{ occlusion = { rate = 2 } }")
    assert "rate" in refused(tmp_path, study_text(bad, TESTS), "arms[0].degrade.occlusion")
    bad = arm.format(name="x", d='{ occlusion = "often" }')
    refused(tmp_path, study_text(bad, TESTS), "arms[0].degrade.occlusion", "expected a rate")
