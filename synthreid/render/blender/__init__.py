"""synthreid.render.blender: the only bpy code.

``import_bpy(threads)`` imports Blender with its task scheduler (oneTBB) sized to ``threads``
CPUs. TBB fixes its worker count from the process' CPU affinity when bpy is imported; Cycles'
``render.threads`` limits only the path tracer, so a 1-thread worker on a 2-core machine kept
an idle TBB worker thread spinning in ``sched_yield`` (the denoiser, BVH build and compositor
hand work to it): about 0.5 extra core per worker, measured in README, Performance.

NumPy's OpenBLAS is the other pool: it starts one thread per CPU when numpy is imported, and
after each matrix product (posing the person, projecting joints) those threads spin in
``sched_yield`` for a while. On a 1-thread worker that was 18 % of its CPU time (``perf``,
2026-12-03), on the core the other worker needs. ``import_bpy`` caps BLAS at ``threads`` too.
"""

from __future__ import annotations

import os
import sys


def import_bpy(threads: int):
    """Import and return ``bpy`` with at most ``threads`` TBB threads (0 = every allowed CPU).

    The affinity mask is narrowed only while bpy is imported, then restored: the process may
    still run on any of its CPUs, it just never starts more than ``threads`` threads of work.
    The first import of a process decides; later calls return the module as it is.
    """
    limit_blas(threads)
    if "bpy" in sys.modules or not hasattr(os, "sched_getaffinity"):
        import bpy

        return bpy
    cpus = os.sched_getaffinity(0)
    if not 0 < threads < len(cpus):
        import bpy

        return bpy
    os.sched_setaffinity(0, set(sorted(cpus)[:threads]))
    try:
        import bpy
    finally:
        os.sched_setaffinity(0, cpus)
    return bpy


def limit_blas(threads: int) -> None:
    """Cap NumPy's BLAS thread pool at ``threads`` (0 = leave it as it is) for this process.

    Runs whenever a session is built; idempotent. The products we do are 4x4 and N x 3, so one
    BLAS thread loses nothing, and a fixed count keeps their rounding the same in every process.
    """
    if threads <= 0:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def bpy_imported() -> bool:
    """Whether this process has imported bpy already (its thread pool is then fixed)."""
    return "bpy" in sys.modules
