"""The typed plan: exact JSON round trips, strict reading, schema versions."""

import json

import pytest

from synthreid.render.model import PLAN_SCHEMA, CharacterPlan, ImagePlan, PlanError
from synthreid.render.model.scene import StandPose, WalkPose
from synthreid.render.plan import plan_character, plan_image
from synthreid.render.spec import DatasetSpec

# 1,000 people across presets that differ in clothes, palettes, hair, accessories and poses.
PRESETS = {"IV": 300, "IV-realistic": 250, "real": 250, "I": 100, "III": 100}


def _specs():
    for name, n in PRESETS.items():
        yield DatasetSpec.preset(name).replace(characters=n, images_per_character=1)


def test_1000_sampled_plans_round_trip_exactly_through_json():
    n = 0
    kinds = set()
    for spec in _specs():
        pose = {"IV": "walk", "I": "stand"}.get(spec.name, "mixed")
        spec = spec.replace(people={**spec.to_dict()["people"], "pose": pose})
        for ci in range(spec.characters):
            char = plan_character(spec, ci)
            text = json.dumps(char.to_json())
            back = CharacterPlan.from_json(json.loads(text))
            assert back == char and json.dumps(back.to_json()) == text
            image = plan_image(spec, ci, 0, char)
            text = json.dumps(image.to_json())
            back = ImagePlan.from_json(json.loads(text))
            assert back == image and json.dumps(back.to_json()) == text
            # the catalog's form: the image without its character, read back with it
            assert ImagePlan.from_json(image.to_json(character=False), char) == image
            kinds.add(image.pose.kind)
            n += 1
    assert n == 1000 and kinds == {"walk", "stand"}


def test_values_are_typed_and_frozen():
    plan = plan_image(DatasetSpec.preset("IV").replace(characters=2), 1, 0)
    assert isinstance(plan.camera.position_m, tuple) and isinstance(plan.camera.polar_deg, float)
    assert isinstance(plan.pose, WalkPose | StandPose)
    with pytest.raises(AttributeError):
        plan.camid = 3


def _image_json():
    return plan_image(DatasetSpec.preset("IV").replace(characters=2), 1, 0).to_json()


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: d["character"]["person"].update(sex="robot"),
            "image.character.person.sex: 'robot' is not one of",
        ),
        (lambda d: d["camera"].pop("polar_deg"), "image.camera.polar_deg: missing"),
        (lambda d: d["camera"].update(polar=1.0), "image.camera.polar: unknown field"),
        (lambda d: d["light"].update(ambient="bright"), "image.light.ambient: expected float"),
        (lambda d: d["camera"].update(position_m=[1.0, 2.0]), "image.camera.position_m: expected 3 values"),
        (lambda d: d["pose"].update(kind="dance"), "image.pose.kind: 'dance' is not one of"),
        (lambda d: d["character"]["person"].update(height=7.0), "person.height: expected metres"),
        (lambda d: d.update(stem="00001_c9_0000"), "disagree"),
        (lambda d: d["camera"].update(camid=True), "image.camera.camid: expected int"),
    ],
)
def test_bad_plans_are_refused_naming_the_field(change, message):
    data = _image_json()
    change(data)
    with pytest.raises(PlanError, match=message.replace("(", r"\(")):
        ImagePlan.from_json(data)


def test_rows_of_another_schema_are_refused_naming_the_version():
    data = _image_json()
    old = {k: v for k, v in data.items() if k != "schema"}  # the untyped rows of schema 1
    with pytest.raises(PlanError, match=rf"plan schema 1, .*reads plan schema {PLAN_SCHEMA}"):
        ImagePlan.from_json(old)
    with pytest.raises(PlanError, match="plan schema 99"):
        ImagePlan.from_json({**data, "schema": 99})
    with pytest.raises(PlanError, match="character: plan schema 1"):
        CharacterPlan.from_json(data["character"], where="character")


def test_label_rows_read_back_as_plans():
    data = _image_json()
    row = {**data, "state": "done", "checksum": "abc", "bbox": [0, 0, 1, 1]}
    assert ImagePlan.from_json(row).to_json() == data


def test_datasets_planned_with_an_older_schema_are_refused_naming_it(tmp_path, capsys):
    from synthreid.cli import main
    from synthreid.render.output import init_dataset, missing_images

    spec = DatasetSpec.preset("IV").replace(characters=2, images_per_character=1)
    root = tmp_path / "ds"
    init_dataset(spec, root)
    rows = [json.loads(line) for line in (root / "labels.jsonl").read_text().splitlines()]
    old = [{k: v for k, v in r.items() if k != "schema"} for r in rows]  # as written before schema 2
    (root / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    with pytest.raises(PlanError, match="labels.jsonl:1: character: plan schema 1"):
        missing_images(root)  # what `render` resumes from
    assert main(["rerender", str(root), rows[0]["stem"]]) == 2
    assert "plan schema 1" in capsys.readouterr().err


def test_compiled_encoders_write_what_the_field_by_field_encoder_writes():
    from dataclasses import dataclass

    import numpy as np

    from synthreid.render.model import codec
    from synthreid.render.plan import plan_characters

    for preset in ("I", "IV", "real"):
        spec = DatasetSpec.preset(preset).replace(characters=40, images_per_character=3)
        for char, images in plan_characters(spec):
            assert codec.to_json(char) == codec._generic_dataclass(char, ())
            for p in images:
                for leave_out in ((), ("character",)):
                    assert codec.to_json(p, leave_out) == codec._generic_dataclass(p, leave_out)

    @dataclass(frozen=True)
    class Odd:  # values the samplers never make: numpy scalars, a list for a tuple, None kept
        a: float
        b: tuple[float, ...]
        c: tuple[int, ...]
        d: float | None
        e: int = 0

    odd = Odd(np.float64(0.5), (1.0, np.float64(2.0)), [3], None, e=7)
    assert codec.to_json(odd) == codec._generic_dataclass(odd, ())
    assert codec.to_json(odd) == {"a": 0.5, "b": [1.0, 2.0], "c": [3], "d": None, "e": 7}
    assert codec.to_json(odd, ("a", "e")) == {"b": [1.0, 2.0], "c": [3], "d": None}
    with pytest.raises(TypeError):
        codec.to_json(object())
