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


# ---- people written by hand in tests ---------------------------------------------------------
# Tests describe people as JSON dicts (sampled, then changed part by part) and may leave out
# fields that do not matter to them; these helpers make the typed plans that Blender takes.
FILL = {"color_name": "test", "fit": 1.0, "sleeve": "long", "color": [0.05, 0.04, 0.03]}
OLD_POSE_KEYS = {"head": "head_deg", "arms": "arms_deg"}


def person_json(person) -> dict:
    """A PersonPlan as its JSON dict (a fresh copy: change it freely)."""
    from synthreid.render.model.codec import to_json

    return to_json(person)


def _fill(cls, data):
    import dataclasses
    import types
    import typing

    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.name in FILL:
                out[f.name] = FILL[f.name]
            continue
        value, tp = data[f.name], hints[f.name]
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        out[f.name] = _fill(tp, value) if dataclasses.is_dataclass(tp) and isinstance(value, dict) else value
    return out


def person_plan(person):
    """A PersonPlan from a (partial) JSON dict; a PersonPlan is returned as it is."""
    from synthreid.render.model.codec import from_json
    from synthreid.render.model.person import PersonPlan

    return (
        person
        if isinstance(person, PersonPlan)
        else from_json(PersonPlan, _fill(PersonPlan, person), "person")
    )


def pose_plan(pose):
    """A PosePlan from a dict {"kind": ..., fields} (old names head/arms accepted)."""
    from synthreid.render.model.codec import from_json
    from synthreid.render.model.scene import BvhPose, StandPose, WalkPose

    if not isinstance(pose, dict):
        return pose
    data = {OLD_POSE_KEYS.get(k, k): v for k, v in pose.items()}
    cls = {"walk": WalkPose, "stand": StandPose, "bvh": BvhPose}.get(data.get("kind"), WalkPose)
    return from_json(cls, data, "pose")


def build_person(person, **kw):
    """``render.blender.person.build_person`` of a (partial) JSON dict or a PersonPlan."""
    from synthreid.render.blender.person import build_person as build

    return build(person_plan(person), **kw)


def render_one(session, spec, ci, ii, root):
    """Plan image ``ii`` of character ``ci``, render it and write it into ``root``; its label row."""
    from synthreid.render.plan import plan_image
    from synthreid.render.writer import DatasetWriter

    plan = plan_image(spec, ci, ii)
    return DatasetWriter(root, spec.output.format).write(plan, session.render(plan))
