"""Render arms reuse earlier renders of the same spec (e.g. by `synthreid render`): their
finished, checksum-verified images are linked in and only the rest is rendered."""

import json
import os

import numpy as np
import pytest

from synthreid.fsutil import sha256_file, write_json
from synthreid.render.output import init_dataset, missing_images
from synthreid.render.plan import plan_images
from synthreid.render.spec import DatasetSpec
from synthreid.study.runner import run_study
from synthreid.study.spec import StudySpecError, load_study

from .study_fixtures import person, study_text, write_study

ARM = """
[[arms]]
name = "I"
kind = "render"
preset = "I"
identities = 10
images = 3
size = [16, 32]
"""
TESTS = '\n[[test_sets]]\nname = "real"\npath = "real"\n'
QUIET = "[baselines]\nchance = false\nuntrained = false\nhandcrafted = false\nreal_anchor = false\n"


def fake_render(spec: DatasetSpec, root, skip=()) -> int:
    """The files a finished render leaves (image, mask, then the meta row with their checksums),
    for every planned image but ``skip``; pixels from the test fixtures, not from Blender."""
    init_dataset(spec, root)
    rng = np.random.default_rng(0)
    n = 0
    for plan in plan_images(spec):
        row = plan.to_json()
        stem = row["stem"]
        if stem in skip:
            continue
        img, mask = root / "images" / f"{stem}.png", root / "masks" / f"{stem}.png"
        person(row["pid"], rng).save(img)
        person(0, rng).convert("L").save(mask)
        write_json(
            root / "meta" / f"{stem}.json",
            {
                **row,
                "state": "rendered",
                "image": f"images/{stem}.png",
                "mask": f"masks/{stem}.png",
                "checksum": sha256_file(img),
                "mask_checksum": sha256_file(mask),
            },
        )
        n += 1
    return n


def arm_spec(data) -> DatasetSpec:
    return DatasetSpec.from_dict(load_study(write_study(data, study_text(ARM, TESTS))).arms[0].render)


def test_a_render_of_the_same_spec_under_another_name_is_reused(data):
    spec = arm_spec(data)
    # what `synthreid render --preset I --characters 10 --images 3 --size 16x32` writes: the preset's
    # name and the thesis splits, the same pixels
    other = spec.replace(name="I", splits={"test": 2, "val": 2})
    assert fake_render(other, data / "renders" / "I") == 30
    study = load_study(write_study(data, study_text(ARM + 'reuse = "renders/I"\n', TESTS, extra=QUIET)))
    outcome = run_study(study, data / "out", progress=False, stream=None)
    (render,) = [s for s in outcome.steps if s.stage == "render"]
    result = outcome.records[("render", render.key)]["result"]
    assert (result["rendered"], result["reused"]) == (0, 30)
    root = data / "out" / "cache" / "render" / render.key / "dataset"
    assert missing_images(root) == {}
    first = sorted((root / "images").iterdir())[0]
    assert os.path.samefile(first, data / "renders" / "I" / "images" / first.name)  # linked, not copied
    assert json.loads((root / "manifest.json").read_text())["spec"]["splits"] == {"test": 0, "val": 2}
    assert {s.stage for s in outcome.executed} == {"render", "train", "evaluate"}


def test_only_sound_images_are_reused(data):
    from synthreid.study.steps import link_finished_images

    spec = arm_spec(data)
    stems = [r.stem for r in plan_images(spec)]
    fake_render(spec.replace(name="I"), data / "src", skip={stems[0]})
    (data / "src" / "images" / f"{stems[1]}.png").write_bytes(b"torn")  # checksum no longer matches
    assert link_finished_images(spec, data / "dst", data / "src") == 28
    assert sorted(i for todo in missing_images(data / "dst").values() for i in todo) == [0, 1]
    assert link_finished_images(spec, data / "dst", data / "src") == 0  # already there


def test_a_render_of_another_spec_is_refused(data):
    fake_render(arm_spec(data).replace(name="I", seed=5), data / "renders" / "I5")
    with pytest.raises(StudySpecError) as exc:
        load_study(write_study(data, study_text(ARM + 'reuse = ["renders/I5"]\n', TESTS)))
    assert exc.value.field == "arms[0].reuse[0]" and "differs in seed" in str(exc.value)
    with pytest.raises(StudySpecError, match="not a rendered dataset"):
        load_study(write_study(data, study_text(ARM + 'reuse = "a"\n', TESTS)))
