"""Scratch folders and temp files of render processes, and their clean-up after a kill.

Each ``synthreid render`` keeps Blender's scratch files in one ``$TMPDIR/synthreid-render-PID-*``
folder (PID: the process that made it), removed on exit; a SIGKILLed process cannot remove
its own, so the next render or worker removes those whose PID is gone
(``sweep_orphan_temp_dirs``). A farm worker keeps all its temp files in such a folder
(``private_tempdir``), Blender's own ``blender_*`` session folder included. Killed writers
leave ``.NAME.PID.tmp`` files beside the dataset's files (``fsutil.atomic_path``);
``remove_worker_temps`` deletes those of given PIDs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

TMP_PREFIX = "synthreid-render-"
_TMP_RE = re.compile(rf"^{TMP_PREFIX}(\d+)-[^-]+$")


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphan_temp_dirs(base: str | None = None) -> int:
    """Remove ``synthreid-render-PID-*`` folders left by SIGKILLed renders (PID gone); return how many."""
    n = 0
    folder = Path(base or tempfile.gettempdir())
    for d in folder.glob(f"{TMP_PREFIX}*-*"):
        m = _TMP_RE.match(d.name)
        if m and d.is_dir() and int(m[1]) != os.getpid() and not pid_alive(int(m[1])):
            shutil.rmtree(d, ignore_errors=True)
            n += 1
    return n


@contextlib.contextmanager
def private_tempdir() -> Iterator[Path]:
    """Sweep dead renderers' folders, then make ``$TMPDIR/synthreid-render-PID-*`` this process's
    temp folder (``TMPDIR`` and ``tempfile``) until the block ends, and remove it.

    Everything this process and its children put in the temp folder lands inside it, also
    Blender's session folder (``blender_XXXXXX``, created when bpy is imported, which a
    SIGKILLed process would otherwise leave in ``$TMPDIR`` for good); after a SIGKILL the next
    render or worker on the host removes the whole folder."""
    base = tempfile.gettempdir()
    swept = sweep_orphan_temp_dirs(base)
    if swept:
        log.info("removed %d temp folder(s) of dead renderers", swept)
    tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=base)
    old_env, old_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = tmp
    try:
        yield Path(tmp)
    finally:
        tempfile.tempdir = old_tempdir
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env
        shutil.rmtree(tmp, ignore_errors=True)


def remove_worker_temps(root: str | Path, pids: Iterable[int]) -> None:
    """Delete the atomic-write temp files (``.NAME.PID.tmp``) of killed writers ``pids``."""
    root = Path(root)
    pids = list(pids)
    for sub in ("images", "masks", "meta"):
        for pid in pids:
            for p in (root / sub).glob(f".*.{pid}.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
