"""dump_json: compact, sorted, the same value as the stdlib's encoding; what orjson refuses
goes through the stdlib encoder."""

import json
import math

import numpy as np
import pytest

from synthreid.render.plan import plan_characters
from synthreid.render.spec import DatasetSpec
from synthreid.workers.catalog.values import dump_json


def test_plans_read_back_as_the_same_values_and_keys_are_sorted():
    spec = DatasetSpec.preset("IV").replace(characters=20, images_per_character=3)
    for char, images in plan_characters(spec):
        for value in [char.to_json()] + [p.to_json(character=False) for p in images]:
            text = dump_json(value)
            assert json.loads(text) == value
            assert " " not in text.replace('" "', "")  # compact separators
            keys = list(json.loads(text))
            assert keys == sorted(keys)


@pytest.mark.parametrize("x", [7e-05, 1e-300, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, -0.0, 123456789.125])
def test_floats_round_trip_exactly(x):
    assert json.loads(dump_json({"x": x}))["x"] == x
    assert math.copysign(1, json.loads(dump_json([x]))[0]) == math.copysign(1, x)


def test_values_orjson_refuses_fall_back_to_the_stdlib():
    big = 2**70
    assert dump_json({"b": big}) == '{"b":1180591620717411303424}'
    assert dump_json({"n": float("nan")}) == '{"n":NaN}'  # as json.dumps writes it
    assert dump_json({2: "a", 1: "b"}) == '{"1":"b","2":"a"}'
    with pytest.raises(TypeError):
        dump_json({"o": object()})
    with pytest.raises(TypeError):
        dump_json({"a": np.arange(3)})  # no silent array encoding
