"""tests/containers/compose.override.yml (the container test's override, scripts/test-farm-containers.sh)
changes only images and build arguments of docker-compose.yml: commands, environment, volumes and
everything else stay exactly what users run."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML (dev extra) reads the compose files")

REPO = Path(__file__).resolve().parents[2]


def load(path: str) -> dict:
    return yaml.safe_load((REPO / path).read_text())


def merge(base: dict, override: dict) -> dict:
    """Compose's merge of mappings (a string `build` is its context)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key == "build" and isinstance(out.get(key), str):
            out[key] = {"context": out[key]}
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def essentials(service: dict) -> dict:
    """A service without its image and build arguments (what the override may change)."""
    s = {k: v for k, v in service.items() if k != "image"}
    build = s.get("build")
    if isinstance(build, dict):
        build = {k: v for k, v in build.items() if k != "args"}
        s["build"] = build["context"] if set(build) == {"context"} else build
    return s


def violations(real: dict, override: dict) -> list[str]:
    out = [f"top-level key {k!r}" for k in override if k != "services"]
    for name, service in override.get("services", {}).items():
        if name not in real["services"]:
            out.append(f"unknown service {name}")
            continue
        out += [f"{name}.{k}" for k in service if k not in ("image", "build")]
        if "build" in service and (
            set(service["build"]) != {"args"} or "build" not in real["services"][name]
        ):
            out.append(f"{name}.build may only change args of a built service")
    merged = merge(real, override)
    for name, service in real["services"].items():
        if essentials(merged["services"][name]) != essentials(service):
            out.append(f"{name}: merged service differs beyond image and build args")
    return out


def test_the_override_changes_only_images_and_build_args():
    assert violations(load("docker-compose.yml"), load("tests/containers/compose.override.yml")) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"services": {"worker": {"command": ["sleep", "1"]}}},
        {"services": {"worker": {"environment": {"SYNTHREID_LEASE_SECONDS": "5"}}}},
        {"services": {"cli": {"volumes": ["/tmp:/data"]}}},
        {"services": {"postgres": {"build": {"args": {"X": "1"}}}}},
        {"services": {"worker": {"build": {"context": "elsewhere"}}}},
        {"services": {"nope": {"image": "x"}}},
        {"volumes": {"data": {"driver": "tmpfs"}}},
    ],
)
def test_a_forbidden_change_is_reported(bad):
    assert violations(load("docker-compose.yml"), bad)


def test_build_args_are_declared_by_the_dockerfile():
    declared = set(re.findall(r"^ARG (\w+)", (REPO / "Dockerfile").read_text(), re.M))
    for name, service in load("tests/containers/compose.override.yml")["services"].items():
        for arg in service.get("build", {}).get("args", {}):
            assert arg in declared, f"{name}: build arg {arg} is not an ARG of the Dockerfile"
