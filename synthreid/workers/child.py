"""Entry of a gpu task's child process: ``python -m synthreid.workers.child PARENT_PID ARGS...``
runs ``synthreid ARGS...`` in a process that dies with its worker.

Why not ``-m synthreid.cli`` directly: a worker killed with SIGKILL cannot stop its child, and
an orphaned training process would keep writing into a run folder that another worker takes
over once the lease expires. On Linux the child asks the kernel for SIGTERM when its parent
dies (PR_SET_PDEATHSIG); elsewhere the worker's own cleanup is all there is.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the worker died before the request took effect
        sys.exit(128 + int(signal.SIGTERM))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or not argv[0].isdigit():
        print("usage: python -m synthreid.workers.child PARENT_PID SYNTHREID_ARGS...", file=sys.stderr)
        return 2
    die_with_parent(int(argv[0]))
    from synthreid.cli import main as cli_main

    return cli_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
