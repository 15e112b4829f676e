"""`synthreid render`'s exit status after a stop by signal: 128 + signal, whatever Ctrl-C
comes after the stop is complete (found by scripts/battery.py: a second Ctrl-C that arrived
just after the stop made the process die by SIGINT, status -2, instead of exiting 130)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import synthreid.workers.embedded as embedded
    from synthreid import cli

    def stopped_render(spec, out, **kw):
        # what render_dataset raises once a first Ctrl-C has stopped it cleanly
        report = embedded.RenderReport(Path(out), 1, 0, [], 0.1, interrupted=signal.SIGINT, left=3)
        raise embedded.RenderInterrupted(report)

    embedded.render_dataset = stopped_render
    rc = cli.main(["render", "--preset", "I", "--out", sys.argv[1], "--quiet"])
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C again, after the stop is complete
    sys.exit(rc)
    """
)


def test_ctrl_c_after_the_stop_keeps_exit_status_130(tmp_path):
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "ds")], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 128 + signal.SIGINT, (res.returncode, res.stderr[-2000:])
    assert "interrupted (SIGINT)" in res.stderr and "Traceback" not in res.stderr
