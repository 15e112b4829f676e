"""cliutil.available_cores: the affinity set, capped by a cgroup v2 CPU quota."""

from __future__ import annotations

import os

import pytest

from synthreid.cliutil import available_cores


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", lambda n: n),  # no quota
        ("100000 100000\n", lambda n: 1),  # --cpus 1
        ("150000 100000\n", lambda n: min(n, 2)),  # --cpus 1.5 rounds up
        ("1000 100000\n", lambda n: 1),  # a sliver of a CPU is still one process
        ("6400000 100000\n", lambda n: n),  # a quota above the affinity set does not add CPUs
        ("garbage", lambda n: n),
        ("", lambda n: n),
    ],
)
def test_a_cgroup_quota_caps_the_cores(tmp_path, cpu_max, expected):
    f = tmp_path / "cpu.max"
    f.write_text(cpu_max)
    assert available_cores(f) == expected(_affinity())


def test_without_a_cgroup_file_the_affinity_set_counts(tmp_path):
    assert available_cores(tmp_path / "absent") == _affinity()
