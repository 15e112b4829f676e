"""scripts/pyproject-requirements.py: the Dockerfile's dependency layer for an EXTRAS value."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    "pyproject_requirements", REPO / "scripts/pyproject-requirements.py"
)
reqs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reqs)
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def names(requirements: list[str]) -> set[str]:
    return {
        r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip() for r in requirements
    }


def test_render_worker_image_has_no_torch():
    got = names(reqs.requirements(PYPROJECT, ["render", "farm"]))
    assert {"numpy", "bpy", "psycopg2-binary", "rq", "redis"} <= got
    assert "torch" not in got and "synthreid" not in got


def test_self_references_expand_and_unknown_extras_are_refused():
    every = names(reqs.requirements(PYPROJECT, ["all"]))
    assert {"bpy", "torch", "pytest", "rq"} <= every and "synthreid" not in every
    with pytest.raises(SystemExit, match="EXTRAS: unknown extra 'gpu'"):
        reqs.requirements(PYPROJECT, ["render", "gpu"])
