"""Farm commands: ``db upgrade``, ``enqueue``, ``submit``, ``worker``, ``status``, ``reconcile``.

Configuration comes from the environment (see ``synthreid.workers.config``); with no
database or Redis URL the SQLite catalog in the data directory and local dispatch are used.
Nothing heavy is imported at module import time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from synthreid.cliutil import positive_int


def _config():
    from synthreid.workers.config import FarmConfig, install_secret_filter

    config = FarmConfig.from_env()
    install_secret_filter(config)  # no password in any log line of this command
    return config


def _catalog(config, auto_upgrade=True):
    from synthreid.workers.catalog import open_catalog

    return open_catalog(config, auto_upgrade=auto_upgrade)


def cmd_db_upgrade(args) -> int:
    config = _config()
    cat = _catalog(config, auto_upgrade=False)
    try:
        applied = cat.upgrade()
        print(
            f"catalog {cat!r}: schema at version {cat.schema_version()}"
            + (f" (applied {', '.join(f'{v:04d}' for v in applied)})" if applied else " (up to date)")
        )
    finally:
        cat.close()
    return 0


def cmd_enqueue(args) -> int:
    from synthreid.errors import SpecError
    from synthreid.workers.dispatch import DispatchError, dispatch, make_dispatcher
    from synthreid.workers.tasks import RenderBackend, enqueue_dataset

    if bool(args.spec) == bool(args.preset):
        raise SpecError("spec", "give exactly one of SPEC (a TOML file) or --preset NAME")
    backend = RenderBackend()
    # Validate everything before touching the catalog.
    spec = backend.load_spec(args.spec) if args.spec else _preset(args.preset)
    changes = {
        k: v
        for k, v in (("characters", args.characters), ("images_per_character", args.images))
        if v is not None
    }
    if changes:
        spec = spec.replace(**changes)
    config = _config()
    dispatcher = make_dispatcher(config)
    cat = _catalog(config)
    try:
        res = enqueue_dataset(
            cat,
            spec,
            name=args.name,
            resume=args.resume,
            max_attempts=config.max_attempts,
            backend=backend,
            progress=not args.quiet,
            processes=config.plan_processes,
            writers=config.plan_writers,
            data_dir=config.data_dir,
            catalog_dir=None if config.uses_postgres else config.sqlite_path.parent,
            dataset_root=None if args.no_file_check else config.dataset_root,
        )
        for line in res.repair.lines() if res.repair is not None else ():
            print(line)
        verb = "resumed" if res.resumed else "enqueued"
        print(
            f"{verb} dataset {res.name!r}: {res.characters} characters, {res.images} images, "
            f"{len(res.tasks)} tasks to run ({res.seconds:.1f} s); files go to {config.dataset_root(res.name)}"
        )
        try:
            dispatch(cat, dispatcher, res.tasks)
        except DispatchError as exc:
            print(
                f"warning: {exc}; the tasks are in the catalog and a worker's reaper (or "
                "`synthreid reconcile`) will dispatch them",
                file=sys.stderr,
            )
        if dispatcher.kind == "local" and res.tasks:
            print("embedded mode: run `synthreid worker --burst` to render them")
    finally:
        cat.close()
        dispatcher.close()
    return 0


def split_submit_args(rest: list[str]) -> tuple[str, list[str]]:
    """(run name, sub-command args) of ``--name NAME [--] ARGS...`` (argparse keeps no '--' of its own)."""
    from synthreid.workers.jobs import JobError

    rest = list(rest)
    name = None
    if rest and rest[0].startswith("--name="):
        name, rest = rest[0].split("=", 1)[1], rest[1:]
    elif len(rest) >= 2 and rest[0] == "--name":
        name, rest = rest[1], rest[2:]
    if name is None:
        raise JobError("submit: --name RUN_NAME is required first, then -- and the sub-command's arguments")
    if rest and rest[0] == "--":
        rest = rest[1:]
    return name, rest


def cmd_submit(args) -> int:
    from synthreid.workers.dispatch import DispatchError, dispatch, make_dispatcher
    from synthreid.workers.gpu_tasks import submit_job
    from synthreid.workers.jobs import GPU_QUEUE

    name, sub_args = split_submit_args(args.rest)
    config = _config()
    dispatcher = make_dispatcher(config)
    cat = _catalog(config)
    try:
        check = getattr(args, "check_command_line", None)  # the console script's parser, dry run
        plan, task_id = submit_job(cat, config, args.job, name, sub_args, check_argv=check)
        print(
            f"submitted {args.job} of run {name!r} as task {task_id} on the {GPU_QUEUE} queue; "
            f"log in {plan.run_dir / 'worker.log'}"
            + (f"; new dataset {plan.new_dataset_dir}" if plan.new_dataset else "")
        )
        try:
            dispatch(cat, dispatcher, [(task_id, GPU_QUEUE)])
        except DispatchError as exc:
            print(
                f"warning: {exc}; the task is in the catalog and a worker's reaper (or "
                "`synthreid reconcile`) will dispatch it",
                file=sys.stderr,
            )
        if dispatcher.kind == "local":
            print(f"embedded mode: run `synthreid worker --queues {GPU_QUEUE} --burst` to run it")
    finally:
        cat.close()
        dispatcher.close()
    return 0


def _preset(name):
    from synthreid.render.spec import DatasetSpec

    return DatasetSpec.preset(name)


def cmd_worker(args) -> int:
    from synthreid.render.scratch import private_tempdir
    from synthreid.workers.worker import Worker

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    if not queues:
        raise SystemExit("synthreid worker: --queues needs at least one queue name")
    children = []
    if args.processes > 1:
        # Extra local worker processes (embedded default: no Redis, one host): same command.
        base = [sys.executable, "-m", "synthreid.cli", "worker", "--queues", args.queues]
        children = [
            subprocess.Popen(base + (["--burst"] if args.burst else [])) for _ in range(args.processes - 1)
        ]
    w = Worker(_config(), queues, burst=args.burst)
    w.install_signal_handlers()
    try:
        # Its temp files (Blender's session folder, a gpu job's) in one folder the next worker
        # removes if this one is SIGKILLed.
        with private_tempdir():
            stats = w.run()
    finally:
        for child in children:
            if child.poll() is None and w.stop_requested.is_set():
                child.terminate()
        for child in children:
            child.wait()
    return 1 if stats["failed"] and args.burst and not stats["done"] else 0


def cmd_status(args) -> int:
    from synthreid.workers.dispatch import make_dispatcher
    from synthreid.workers.status import farm_status, format_status

    config = _config()
    cat = _catalog(config)
    dispatcher = make_dispatcher(config)
    try:
        while True:
            st = farm_status(
                cat,
                args.dataset,
                live_within=max(10.0, config.lease_seconds),
                dispatcher=dispatcher,
                lease=config.lease_seconds,
            )
            if args.json:
                print(
                    json.dumps(
                        {
                            "datasets": [d.to_dict() for d in st["datasets"]],
                            "runs": st["runs"],
                            "workers": st["workers"],
                            "warnings": st["warnings"],
                        }
                    )
                )
            else:
                if args.watch:
                    print("\033[2J\033[H", end="")
                print(format_status(st), flush=True)
            if not args.watch:
                return 0
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0
    finally:
        cat.close()
        dispatcher.close()


def cmd_reconcile(args) -> int:
    from synthreid.workers.dispatch import make_dispatcher
    from synthreid.workers.reaper import reconcile

    config = _config()
    dispatcher = make_dispatcher(config)
    cat = _catalog(config)
    try:
        if dispatcher.kind == "local":
            n = len(cat.redispatchable())
            print(
                f"embedded mode (no SYNTHREID_REDIS_URL): {n} unfinished tasks; workers claim them from the catalog"
            )
            return 0
        n = reconcile(cat, dispatcher, clear=not args.keep)
        print(f"reconcile: dispatched {n} unfinished tasks from the catalog")
    finally:
        cat.close()
        dispatcher.close()
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "db",
        help="catalog schema (migrations)",
        description="Manage the farm catalog's schema (SQLite in the data directory, or "
        "Postgres from SYNTHREID_DATABASE_URL).",
    )
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    dsub.required = True
    up = dsub.add_parser("upgrade", help="apply pending numbered SQL migrations")
    up.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("enqueue", help="write a dataset's rows and render tasks into the catalog (farm)")
    p.add_argument("spec", nargs="?", help="dataset spec TOML file")
    p.add_argument("--preset", help="a built-in preset (I, II, III, IV, ...) instead of SPEC")
    p.add_argument("--name", help="dataset name (default: the spec's name)")
    p.add_argument("--characters", type=int, help="override the number of characters")
    p.add_argument("--images", type=int, help="override images per character")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an existing dataset of the same spec: finish its planning, retry failed tasks, "
        "and re-queue finished images whose files are missing or fail their checksum",
    )
    p.add_argument(
        "--no-file-check",
        action="store_true",
        help="with --resume: do not read the finished images' files (faster on huge datasets; "
        "damaged files stay counted as done)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_enqueue)

    p = sub.add_parser(
        "submit",
        help="run a refiner or re-ID job as a farm task on the gpu queue",
        usage="synthreid submit {refine-train,refine-apply,benchmark-train,benchmark-eval} --name RUN -- ARGS...",
        description="Create a gpu-queue task (and its run, state queued) and dispatch it. ARGS are the "
        "sub-command's own arguments (see `synthreid refine train --help` etc.) with dataset and "
        "run NAMES instead of paths: datasets are DATA_DIR/datasets/NAME, the run folder is "
        "DATA_DIR/runs/RUN (--out is set by the farm). Example: synthreid submit refine-train "
        "--name r1 -- --source IV --target market --iters 1000",
    )
    p.add_argument(
        "job",
        choices=("refine-train", "refine-apply", "benchmark-train", "benchmark-eval"),
        help="the sub-command to run: refine train/apply, benchmark train/eval",
    )
    p.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        metavar="--name RUN -- ARGS",
        help="the run's name, then -- and the sub-command's own arguments (dataset and run names)",
    )
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("worker", help="run a long-lived farm worker")
    p.add_argument("--queues", default="render", help="comma-separated queues to serve (default: render)")
    p.add_argument(
        "--burst", action="store_true", help="exit once no task of these queues is pending or running"
    )
    p.add_argument("--processes", type=positive_int, default=1, help="local worker processes to run")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "status", help="progress of datasets and runs: done/total, failures, rate, ETA, workers"
    )
    p.add_argument("dataset", nargs="?", help="one dataset (default: all)")
    p.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        default=None,
        metavar="SECONDS",
        help="refresh every SECONDS (default 2)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("reconcile", help="rebuild the task queues from the catalog (after Redis was lost)")
    p.add_argument("--keep", action="store_true", help="do not empty the queues first (may add duplicates)")
    p.set_defaults(func=cmd_reconcile)
