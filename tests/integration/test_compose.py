"""docker-compose.yml and .env.example: services, healthchecks, no published ports, no secrets,
and the same entry points the integration tests run."""

from __future__ import annotations

import re
import subprocess

import pytest

from .conftest import REPO, compose_service_command

yaml = pytest.importorskip("yaml", reason="PyYAML (dev extra) reads docker-compose.yml")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_services_and_healthchecks(compose):
    s = compose["services"]
    assert {"postgres", "redis", "migrate", "worker", "gpu-worker"} <= set(s)
    for name in ("postgres", "redis", "worker", "gpu-worker"):
        assert s[name]["healthcheck"]["test"], name
    for name in ("worker", "gpu-worker"):  # the heartbeat in the catalog, not only an import
        assert s[name]["healthcheck"]["test"] == ["CMD", "python", "-m", "synthreid.workers.health"], name
    assert s["migrate"]["restart"] == "no"
    assert s["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert s["postgres"]["volumes"] and s["redis"]["volumes"]
    gpu = s["gpu-worker"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    # the worker is scalable: no container_name, no fixed host port
    assert "container_name" not in s["worker"] and "ports" not in s["worker"]
    assert "data:/data" in s["worker"]["volumes"] and "data" in compose["volumes"]


def test_no_published_database_or_redis_port(compose):
    for name in ("postgres", "redis"):
        assert "ports" not in compose["services"][name]


def test_passwords_come_from_the_environment(compose):
    text = (REPO / "docker-compose.yml").read_text()
    assert "${POSTGRES_PASSWORD" in text and "${REDIS_PASSWORD" in text
    s = compose["services"]
    assert s["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")
    assert "requirepass" in " ".join(s["redis"]["command"])
    assert "${REDIS_PASSWORD" in s["worker"]["environment"]["SYNTHREID_REDIS_URL"]
    env_example = (REPO / ".env.example").read_text()
    assert re.search(r"^POSTGRES_PASSWORD=change-me$", env_example, re.M)
    assert not (REPO / ".env").exists() or ".env" in (REPO / ".gitignore").read_text()


def test_service_commands_are_the_tested_entry_points(compose):
    assert compose["services"]["worker"]["command"][:2] == ["synthreid", "worker"]
    assert compose["services"]["migrate"]["command"] == ["synthreid", "db", "upgrade"]
    cmd = compose_service_command("worker")
    res = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "--burst" in res.stdout
