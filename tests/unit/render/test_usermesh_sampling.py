"""Sampling of the user's rigged characters (people.meshes_dir / people.mesh_probability)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from synthreid.errors import SpecError
from synthreid.render.sampling.people import list_meshes, sample_character
from synthreid.render.spec import DatasetSpec


def _spec(**people) -> DatasetSpec:
    return DatasetSpec.from_dict({"name": "t", "seed": 3, "people": people})


@pytest.fixture
def meshes(tmp_path):
    root = tmp_path / "chars"
    (root / "sub").mkdir(parents=True)
    for name in ("a.glb", "sub/b.fbx", "c.gltf", "notes.txt", ".hidden/d.glb"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    return root


def test_lists_character_files_relative_and_sorted(meshes):
    assert list_meshes(str(meshes)) == ("a.glb", "c.gltf", "sub/b.fbx")


def test_picks_meshes_at_the_configured_rate_with_relative_paths(meshes):
    spec = _spec(meshes_dir=str(meshes), mesh_probability=0.3)
    rng = np.random.default_rng(0)
    chosen = [sample_character(spec, rng).mesh for _ in range(600)]
    picked = [m for m in chosen if m is not None]
    assert 0.24 < len(picked) / len(chosen) < 0.36
    assert {m.file for m in picked} == {"a.glb", "c.gltf", "sub/b.fbx"}
    assert all(m.root == str(meshes) for m in picked)


def test_probability_one_always_and_zero_never(meshes):
    rng = np.random.default_rng(1)
    assert all(sample_character(_spec(meshes_dir=str(meshes)), rng).mesh for _ in range(20))
    assert not any(
        sample_character(_spec(meshes_dir=str(meshes), mesh_probability=0.0), rng).mesh for _ in range(20)
    )


def test_procedural_draws_unchanged_and_no_key_without_folder(meshes):
    a = sample_character(_spec(), np.random.default_rng(5))
    b = sample_character(_spec(meshes_dir=str(meshes)), np.random.default_rng(5))
    assert a.mesh is None
    assert b.mesh.file
    assert a == dataclasses.replace(b, mesh=None)


def test_same_seed_same_choice(meshes):
    spec = _spec(meshes_dir=str(meshes), mesh_probability=0.5)
    runs = [[sample_character(spec, np.random.default_rng(s)).mesh for s in range(10)] for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_missing_or_empty_folder_is_a_clear_error(tmp_path, kind):
    folder = tmp_path / "nope"
    if kind == "empty":
        folder.mkdir()
        (folder / "readme.txt").write_text("no characters")
    with pytest.raises(SpecError, match="people.meshes_dir"):
        sample_character(_spec(meshes_dir=str(folder)), np.random.default_rng(0))


def test_spec_validates_probability():
    with pytest.raises(SpecError, match="mesh_probability"):
        _spec(mesh_probability=1.5)


def test_relative_folder_resolves_against_spec_file(tmp_path):
    spec = _spec(meshes_dir="chars").resolve_paths(tmp_path)
    assert spec.people.meshes_dir == str((tmp_path / "chars").resolve())
