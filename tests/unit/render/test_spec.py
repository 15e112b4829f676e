"""DatasetSpec validation: every bad input names its field and nothing is written."""

import pytest

from synthreid.cli import main
from synthreid.errors import SpecError
from synthreid.render.spec import DatasetSpec, preset_names


def test_presets_load_and_differ():
    names = preset_names()
    assert {"I", "II", "III", "IV", "IV-realistic"} <= set(names)
    specs = {n: DatasetSpec.preset(n) for n in names}
    assert specs["I"].appearance.hair == ("bald",)
    assert specs["I"].appearance.shoes == ()
    assert specs["I"].background.mode == "room"
    assert specs["II"].background.mode == "room_varied"
    assert specs["IV"].background.mode == "textured"
    assert specs["IV-realistic"].appearance.palette == "realistic"
    assert all(s.characters == 1500 and s.images_per_character == 10 for s in specs.values())


def test_spec_is_frozen():
    spec = DatasetSpec()
    with pytest.raises(AttributeError):
        spec.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"bogus": 1}, "bogus", "unknown key"),
        ({"camera": {"fov": 3}}, "camera.fov", "unknown key"),
        ({"characters": 0}, "characters", ">= 1"),
        ({"characters": -5}, "characters", ">= 1"),
        ({"images_per_character": 0}, "images_per_character", ">= 1"),
        ({"characters": "ten"}, "characters", "expected an integer"),
        ({"characters": 2.5}, "characters", "expected an integer"),
        ({"seed": True}, "seed", "expected an integer"),
        ({"camera": {"polar": [80.0, 40.0]}}, "camera.polar", "must not exceed"),
        ({"camera": {"polar": [-1.0, 40.0]}}, "camera.polar[0]", ">= 0.0"),
        ({"camera": {"polar": [10.0, 181.0]}}, "camera.polar[1]", "<= 180.0"),
        ({"camera": {"polar": [10.0]}}, "camera.polar", "expected 2 values"),
        ({"camera": {"distance": [9.0, 7.0]}}, "camera.distance", "must not exceed"),
        ({"camera": {"focal_length": 0}}, "camera.focal_length", "> 0"),
        ({"camera": "wide"}, "camera", "expected a table"),
        ({"render": {"denoise": "yes"}}, "render.denoise", "true/false"),
        ({"appearance": {"palette": "neon"}}, "appearance.palette", "not one of"),
        ({"appearance": {"tops": ["tshirt", "toga"]}}, "appearance.tops[1]", "not one of"),
        ({"appearance": {"tops": []}}, "appearance.tops", "at least one"),
        ({"appearance": {"backpack": 1.5}}, "appearance.backpack", "<= 1.0"),
        ({"background": {"mode": "images"}}, "background.images_dir", "required"),
        ({"name": "../escape"}, "name", "expected 1-128"),
        ({"output": {"size": [64]}}, "output.size", "expected 2 values"),
    ],
)
def test_bad_specs_name_the_field(data, field, fragment):
    with pytest.raises(SpecError) as err:
        DatasetSpec.from_dict(data)
    assert err.value.field == field
    assert fragment in str(err.value)
    assert str(err.value).startswith(field)


def test_toml_roundtrip(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "mine"\nseed = 7\ncharacters = 3\n[camera]\npolar = [40, 60]\n')
    spec = DatasetSpec.from_toml(path)
    assert spec.name == "mine" and spec.camera.polar == (40.0, 60.0)
    assert DatasetSpec.from_dict(spec.to_dict()) == spec


def test_invalid_toml_and_unknown_preset(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(SpecError, match="invalid TOML"):
        DatasetSpec.from_toml(bad)
    with pytest.raises(SpecError, match="unknown preset 'V'.*IV"):
        DatasetSpec.preset("V")


@pytest.mark.parametrize(
    "toml",
    ["characters = 0\n", "[camera]\npolar = [90, 10]\n", "colour = 'red'\n", "[camera]\npolar = [0, 200]\n"],
)
def test_cli_rejects_bad_spec_before_writing(tmp_path, capsys, toml):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "x"\n' + toml)
    out = tmp_path / "out"
    assert main(["plan", str(spec), "--out", str(out)]) == 2
    assert "error" in capsys.readouterr().err
    assert not out.exists()


def test_cli_unknown_preset_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["render", "--preset", "nope", "--out", str(out)]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert not out.exists()


def test_spec_reference_doc_is_current():
    """docs/spec.md is generated; regenerate with `synthreid spec --doc > docs/spec.md`."""
    from pathlib import Path

    from synthreid.render.spec import spec_reference

    doc = Path(__file__).resolve().parents[3] / "docs" / "spec.md"
    assert doc.read_text() == spec_reference(), (
        "docs/spec.md is stale: run `synthreid spec --doc > docs/spec.md`"
    )
