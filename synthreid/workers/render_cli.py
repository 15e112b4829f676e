"""``synthreid render``: render a dataset on this machine, through the farm embedded in the
command (``synthreid.workers.embedded``). Nothing heavy is imported at module import time."""

from __future__ import annotations

import contextlib
import signal
import sys

from synthreid.render.cli import load_spec, out_dir, spec_args


def cmd_render(args) -> int:
    from synthreid.errors import DatasetError
    from synthreid.render.preview import contact_sheet
    from synthreid.workers.embedded import STOP_SIGNALS, RenderInterrupted, render_dataset

    spec = load_spec(args)
    out = out_dir(args, spec)
    try:
        report = render_dataset(spec, out, workers=args.workers, progress=not args.quiet)
    except OSError as exc:
        # The folder itself cannot be written (disk full, read-only, permissions): one line,
        # not a traceback. A person's failed image is a task failure, reported below instead.
        raise DatasetError(f"{out}: cannot write the dataset folder: {exc}") from None
    except RenderInterrupted as stopped:
        # The stop is complete and atomic on disk; what is left is the summary and the exit
        # status. A further Ctrl-C now would raise KeyboardInterrupt after main() returned,
        # and the process would die by the signal instead of exiting 128 + signal.
        with contextlib.suppress(ValueError):  # not the main thread: no handlers to change
            for s in STOP_SIGNALS:
                signal.signal(s, signal.SIG_IGN)
        report = stopped.report
        signum = report.interrupted or signal.SIGINT
        labels = (
            "labels.jsonl updated"
            if report.finalized
            else "labels.jsonl not updated (the next run updates it)"
        )
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            print(
                f"{report.root}: interrupted ({signal.Signals(signum).name}): rendered "
                f"{report.rendered}, skipped {report.skipped} already done, {report.left} left, "
                f"failed {len(report.failed)}; {labels}. Run the same command again to resume.",
                file=sys.stderr,
            )
        return 128 + signum
    print(
        f"{report.root}: rendered {report.rendered}, skipped {report.skipped} already done, "
        f"failed {len(report.failed)} in {report.seconds:.1f} s"
    )
    for what, error in report.failed:
        print(f"  failed {what}: {error}", file=sys.stderr)
    if args.sheet and (report.rendered or report.skipped):
        sheet = contact_sheet(out, args.sheet)
        print(f"contact sheet: {sheet}")
    return 1 if report.failed else 0


def register(sub) -> None:
    p = sub.add_parser(
        "render",
        help="render a dataset locally (resumes; skips finished images)",
        description="Render a dataset on this machine with Blender worker processes: the farm "
        "embedded in one command (a SQLite catalog in DATASET/.synthreid/, local workers). "
        "Images already complete (files present, checksums as recorded) are skipped, so "
        "running the same command again resumes; `--out DATASET` alone continues "
        "that dataset. Ctrl-C (or SIGTERM/SIGHUP) stops after the images in "
        "progress and updates labels.jsonl (exit status 130/143/129); a second "
        "Ctrl-C stops at once. No file is ever left half-written. A person whose render "
        "fails is reported (exit status 1) and tried again by the next run.",
    )
    spec_args(p)
    p.add_argument(
        "--workers",
        type=int,
        help="Blender worker processes (default: usable cores: affinity set and container CPU quota)",
    )
    p.add_argument("--sheet", help="also write a contact sheet PNG here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_render)
