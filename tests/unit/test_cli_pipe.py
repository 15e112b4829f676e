"""A reader that closes our stdout early (``synthreid spec I | head -1``) ends the command
quietly with SIGPIPE's status, not a traceback."""

import os
import subprocess
import sys


def test_closed_pipe_is_quiet():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before we write: every write fails, deterministically
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "synthreid.cli", "spec", "I"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    err = proc.stderr.decode()
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
