"""Fixtures for real Blender renders (small frames, few samples)."""

import shutil

import pytest

from synthreid.render.spec import DatasetSpec


def small_spec(**overrides) -> DatasetSpec:
    """A spec that renders in well under a second per image on one CPU core."""
    data = {
        "name": "tiny",
        "seed": 11,
        "characters": 3,
        "images_per_character": 2,
        "camera": {"resolution": [480, 270], "distance": [7.0, 8.0], "polar": [60.0, 88.0]},
        "render": {"samples": 4, "denoise": False, "max_bounces": 2, "threads": 1},
        "output": {"margin": 0.0},
        "splits": {"test": 1, "val": 1},
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    return DatasetSpec.from_dict(data)


@pytest.fixture(scope="session")
def session_factory():
    """RenderSessions keyed by spec, created once per test run (bpy is imported once)."""
    from synthreid.render.blender.session import RenderSession

    cache = {}

    def get(spec):
        key = spec.to_json()
        if key not in cache:
            cache[key] = RenderSession(spec)
        return cache[key]

    yield get
    # Only the temp folders (the process may leave with os._exit): each new session resets
    # the one Blender scene, so the older sessions' objects are already gone.
    for session in cache.values():
        shutil.rmtree(session.stage.tmpdir, ignore_errors=True)
