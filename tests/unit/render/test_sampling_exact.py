"""The planning shortcuts (issue 15) against the numpy calls they replace: same values, same
generator state after them. test_plan_golden.py checks whole plans; these check each piece
over many more inputs, so that a numpy upgrade that changes one of them is named here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthreid.render.plan import plan_character, plan_characters, plan_image
from synthreid.render.sampling import generator, rng_for, seed_states
from synthreid.render.sampling.camera import _direction, sample_directions
from synthreid.render.sampling.palettes import choice_index, clip
from synthreid.render.spec import DatasetSpec, override_counts


@pytest.mark.parametrize("seed", [0, 1, 5, 2**32 - 1, 2**32, 123_456_789_012])
def test_seed_states_give_the_generators_of_rng_for(seed):
    rs = np.random.default_rng(seed % 1000)
    rows = np.concatenate([rs.integers(0, 2**32, (200, 2)), [[0, 0], [0, 1], [2**32 - 1, 2**32 - 1]]])
    for stream in (1, 2, 3):
        for idx in (rows, rows[:, :1]):
            for row, words in zip(idx, seed_states(seed, stream, idx), strict=True):
                a, b = rng_for(seed, stream, *row.tolist()), generator(words)
                assert a.bit_generator.state == b.bit_generator.state, (seed, stream, row)
                assert a.random(3).tolist() == b.random(3).tolist()


def test_seed_states_beyond_one_word_per_value():
    idx = np.array([[2**32 + 5, 3], [2**40, 0]], dtype=np.int64)
    for row, words in zip(idx, seed_states(7, 2, idx), strict=True):
        assert rng_for(7, 2, *row.tolist()).bit_generator.state == generator(words).bit_generator.state


def test_choice_index_is_rng_choice():
    rs = np.random.default_rng(3)
    for trial in range(3000):
        n = int(rs.integers(1, 13))
        w = rs.random(n) * (rs.random(n) < 0.7)  # some zero weights
        if w.sum() == 0:
            w[0] = 1.0
        p = w / w.sum()
        a, b = rng_for(trial, 9), rng_for(trial, 9)
        for _ in range(5):
            assert choice_index(a, p) == int(b.choice(n, p=p))
        assert a.bit_generator.state == b.bit_generator.state


def test_clip_is_np_clip():
    rs = np.random.default_rng(4)
    values = [-0.0, 0.0, 1.0, -1.0, 2.0, 0.5, 1e-300, -1e-300, *rs.normal(0.5, 1.0, 2000).tolist()]
    for lo, hi in ((0.0, 1.0), (-2.0, 2.0), (0.7, 1.5)):
        for x in values:
            want = float(np.clip(x, lo, hi))
            got = clip(x, lo, hi)
            assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want), (x, lo, hi)


def test_direction_is_sample_directions():
    for seed in range(2000):
        t1, t2 = sorted(np.random.default_rng(seed).uniform(0.0, 180.0, 2).tolist())
        a, b = rng_for(seed, 4), rng_for(seed, 4)
        assert _direction(a, t1, t2) == tuple(sample_directions(b, t1, t2).tolist())
        assert a.bit_generator.state == b.bit_generator.state


@pytest.mark.parametrize("preset", ["I", "real"])
def test_plan_characters_equal_single_plans(preset):
    spec = override_counts(DatasetSpec.preset(preset), 12, 3)
    for char, images in plan_characters(spec, 2, 12):
        assert char == plan_character(spec, char.pid)
        assert images == [plan_image(spec, char.pid, ii) for ii in range(3)]


def test_plan_range_rows_equal_single_plans():
    from synthreid.workers.catalog.base import dump_json
    from synthreid.workers.tasks import RenderBackend, _plan_range

    class OneByOne(RenderBackend):  # not the real backend's type: plan_character / plan_image
        pass

    spec = override_counts(DatasetSpec.preset("IV-realistic"), 9, 4)
    fast, slow = _plan_range(spec, 1, 9, RenderBackend()), _plan_range(spec, 1, 9, OneByOne())
    assert fast == slow
    assert fast.images[5][4] == dump_json(plan_image(spec, 2, 1).to_json(character=False))


def test_name_indices_of_a_batch_equal_one_by_one():
    from synthreid.render.colournames import COLOUR_NAMES, colour_name, name_indices

    colours = np.random.default_rng(5).random((4000, 3))
    names = name_indices(colours).tolist()
    assert [COLOUR_NAMES[i] for i in names] == [colour_name(c) for c in colours]


def test_uniform_is_rng_uniform():
    from synthreid.render.sampling import _arithmetic_is_numpys, _uniform_arithmetic, uniform

    assert _arithmetic_is_numpys()  # numpy on x86-64 does not fuse multiply-adds: the fast form is used
    assert uniform is _uniform_arithmetic
    bounds = [(0, 1), (0.0, 0.0), (2.5, 2.5), (-1.0, 5.0), (4000.0, 7500.0), (0.35, 1.0), (1e-300, 1e300)]
    bounds += [tuple(sorted(b)) for b in np.random.default_rng(6).normal(0.0, 50.0, (3000, 2)).tolist()]
    a, b = rng_for(1, 5), rng_for(1, 5)
    for lo, hi in bounds:
        got, want = uniform(a, lo, hi), b.uniform(lo, hi)
        assert got == want and type(got) is type(want) is float, (lo, hi)
    assert uniform(a) == b.uniform() and a.bit_generator.state == b.bit_generator.state
    for lo, hi, error in ((1.0, 0.0, ValueError), (-1e308, 1e308, OverflowError)):
        with pytest.raises(error):
            uniform(a, lo, hi)


def test_uniforms_is_uniform_call_by_call():
    from synthreid.render.sampling import uniform, uniforms

    bounds = [(0, 1), (0.0, 0.0), (2.5, 2.5), (-1.0, 5.0), (4000.0, 7500.0), (0.35, 1.0), (1e-300, 1e300)]
    bounds += [tuple(sorted(b)) for b in np.random.default_rng(7).normal(0.0, 50.0, (600, 2)).tolist()]
    groups = np.random.default_rng(8).integers(1, 7, 200).tolist()
    a, b = rng_for(2, 5), rng_for(2, 5)
    at = 0
    for n in groups:
        chunk = [bounds[(at + k) % len(bounds)] for k in range(n)]
        at += n
        want = [uniform(b, lo, hi) for lo, hi in chunk]
        got = uniforms(a, chunk)
        assert got == want and all(type(v) is float for v in got), chunk
        assert a.bit_generator.state == b.bit_generator.state
    for chunk, error in (([(0.0, 1.0), (1.0, 0.0)], ValueError), ([(-1e308, 1e308)], OverflowError)):
        with pytest.raises(error):
            uniforms(a, chunk)
