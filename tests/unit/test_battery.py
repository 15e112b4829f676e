"""The pure helpers of scripts/battery.py (the battery itself runs for minutes, outside CI)."""

import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest

from synthreid.render.spec import DatasetSpec

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "battery.py"


@pytest.fixture(scope="module")
def battery():
    spec = importlib.util.spec_from_file_location("battery", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["battery"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("battery", None)


def test_toml_dumps_reads_back_equal(battery):
    data = {
        "name": 'a "quoted" name',
        "seed": 3,
        "ratio": 0.25,
        "flag": False,
        "sizes": [32, 64],
        "camera": {"polar": [55.0, 85.0], "ids": 6, "nested": {"deep": "x"}},
        "empty": {},
    }
    assert tomllib.loads(battery.toml_dumps(data)) == data


def test_tiny_spec_is_preset_one_made_small(battery):
    d = battery.tiny_spec("t", characters=3, images=2)
    spec = DatasetSpec.from_dict(tomllib.loads(battery.toml_dumps(d)))
    preset = DatasetSpec.preset("I")
    assert (spec.name, spec.characters, spec.images_per_character) == ("t", 3, 2)
    assert list(spec.output.size) == [32, 64] and spec.render.samples == 2
    assert spec.appearance == preset.appearance  # the look of preset I is kept


def test_duplicates_and_table(battery):
    assert battery.duplicates(["a", "b", "a", "c", "b", "a"]) == ["a", "b"]
    assert battery.duplicates([]) == []
    table = battery.format_table([["x", "PASS"], ["longer", "FAIL"]], ["attack", "result"])
    lines = table.splitlines()
    assert lines[0] == "attack  result" and lines[2] == "x       PASS" and lines[3] == "longer  FAIL"


def test_check_records_failures_by_category(battery):
    chk = battery.Check()
    assert chk.expect(True, "lost", "fine")
    assert not chk.expect(False, "duplicated", "twice")
    assert chk.failures == [("duplicated", "twice")]
    with pytest.raises(ValueError, match="category"):
        chk.expect(True, "nope", "x")
