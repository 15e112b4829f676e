"""import_bpy sizes Blender's thread pool by narrowing the CPU affinity only while bpy is imported
(a fake bpy module records the affinity it was imported under; no Blender needed)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types

import pytest

from synthreid.render import blender


class _FakeBpy(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, affinity: set[int]):
        self.affinity = affinity
        self.seen: list[set[int]] = []

    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name == "bpy" else None

    def create_module(self, spec):
        return types.ModuleType(spec.name)

    def exec_module(self, module):
        self.seen.append(set(self.affinity))


@pytest.fixture
def fake(monkeypatch):
    affinity = {0, 1, 2, 3}
    finder = _FakeBpy(affinity)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(affinity), raising=False)

    def set_affinity(pid, cpus):
        affinity.clear()
        affinity.update(cpus)

    monkeypatch.setattr(os, "sched_setaffinity", set_affinity, raising=False)
    monkeypatch.delitem(sys.modules, "bpy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    return finder


def test_one_thread_imports_bpy_on_one_cpu_then_restores_all(fake):
    module = blender.import_bpy(1)
    assert module is sys.modules["bpy"]
    assert fake.seen == [{0}]
    assert fake.affinity == {0, 1, 2, 3}


@pytest.mark.parametrize("threads", [0, 4, 64])
def test_all_cores_or_more_leave_the_affinity_alone(fake, threads):
    blender.import_bpy(threads)
    assert fake.seen == [{0, 1, 2, 3}]


def test_a_second_call_does_not_import_again(fake):
    blender.import_bpy(2)
    blender.import_bpy(1)
    assert fake.seen == [{0, 1}]
    assert blender.bpy_imported()


def test_the_affinity_comes_back_when_the_import_fails(fake):
    def boom(module):
        raise ImportError("no Blender here")

    fake.exec_module = boom
    with pytest.raises(ImportError, match="no Blender"):
        blender.import_bpy(1)
    assert fake.affinity == {0, 1, 2, 3}
