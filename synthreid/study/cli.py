"""``synthreid study STUDY.toml [--out DIR]``: run (or resume) a declarative transfer study."""

from __future__ import annotations

import sys
from pathlib import Path

from synthreid.cliutil import available_cores, positive_int


def cmd_study(args) -> int:
    import time

    started = time.perf_counter()
    from synthreid.study.runner import run_study
    from synthreid.study.spec import load_study

    spec = load_study(args.study)  # refuses a bad file before any work
    out = Path(args.out) if args.out else Path("out") / f"study-{spec.name}"
    print(
        f"study {spec.name}: {len(spec.arms)} arms x {len(spec.seeds)} seeds, "
        f"{len(spec.test_sets)} test sets -> {out}",
        flush=True,
    )
    jobs = args.jobs or spec.jobs or available_cores()
    if args.plan:
        from synthreid.study.runner import Runner

        Runner(spec, out, stream=sys.stdout, jobs=jobs).show_plan()
        return 0
    outcome = run_study(spec, out, progress=not args.quiet, started=started, jobs=jobs)
    print(Path(outcome.report["md"]).read_text())
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "study",
        help="a declarative, cached, resumable transfer experiment (arms x seeds x "
        "real test sets, with baselines)",
        description="Run every step of a study file (render, refine, train, evaluate), "
        "cached by content: a re-run does only what changed; stop and re-run to "
        "resume. See docs/study.md.",
    )
    p.add_argument("study", type=Path, metavar="STUDY.toml", help="the study file (see docs/study.md)")
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder (default out/study-<study name>)")
    p.add_argument(
        "--plan", action="store_true", help="list the steps (done or to do) and the ETA; run nothing"
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="steps run side by side, each in its own process (renders and refiners run alone); "
        "default: the study file's `jobs`, else every CPU core this process may use "
        f"({available_cores()} here)",
    )
    p.add_argument("--quiet", action="store_true", help="no per-step progress bars (step lines stay)")
    p.set_defaults(func=cmd_study)
