"""GPU-queue tasks: refiner and re-ID runs as farm tasks (design §1, §4).

A task's payload is ``{"command": C, "run": NAME, "args": [...]}``: C is one of ``JOBS``, NAME
the run (its folder is ``DATA_DIR/runs/NAME``) and args the sub-command's own arguments with
dataset and run *names* in place of paths. The payload is validated when submitted and again
by the worker, which resolves the names against its own ``SYNTHREID_DATA_DIR``:

- dataset options (``--source``, ``--train``, ...) take a dataset name (or ``catalog:NAME``,
  the same) -> ``datasets/NAME`` (``--target``/``--target-masks``: ``datasets/NAME/images`` /
  ``masks`` when present); a catalog dataset without such a folder (kind ``imported``: its
  files stay where they were imported from) is passed on as ``catalog:NAME``, which the
  sub-command resolves from the catalog (``synthreid.catalog_names``);
- run options (``--finetune-from``) take a run name -> ``runs/NAME`` (the run must exist);
- ``refine apply``'s and ``benchmark eval``'s RUN positional is NAME itself (must exist);
- the output (``--out``) is set by the farm: ``runs/NAME``, or ``datasets/NEW`` for an apply;
- ``--weights FILE`` -> ``DATA_DIR/weights/FILE``; ``--checkpoint REL`` stays inside the run.

Names are checked by ``check_dataset_name`` and every resolved path must lie inside the data
directory, so no payload reaches outside it. Options are matched exactly against the real
sub-command parser (no abbreviations), which also parses the final argument list.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from synthreid.dataset import check_dataset_name
from synthreid.errors import SynthreidError

GPU_QUEUE = "gpu"
CATALOG_PREFIX = "catalog:"  # synthreid.catalog_names.PREFIX
MAX_ARGS = 200
MAX_ARG_CHARS = 4096


class JobError(SynthreidError):
    """A gpu task's payload or arguments are invalid; the message names the argument."""


@dataclass(frozen=True)
class JobKind:
    command: str  # `synthreid submit COMMAND`
    task_kind: str  # tasks.kind
    cli: tuple[str, str]  # `synthreid A B ...`
    run_kind: str  # runs.kind: refiner | reid
    run_exists: bool  # the run must already exist (apply, eval)
    dataset_opts: tuple[str, ...] = ()
    run_opts: tuple[str, ...] = ()
    new_dataset_opt: str | None = None  # option naming the dataset this job creates
    forced: tuple[str, ...] = ("--out",)  # options the farm sets itself


JOBS: dict[str, JobKind] = {
    j.command: j
    for j in (
        JobKind(
            "refine-train",
            "train_refiner",
            ("refine", "train"),
            "refiner",
            False,
            dataset_opts=("--source", "--target", "--target-masks"),
        ),
        JobKind(
            "refine-apply",
            "apply_refiner",
            ("refine", "apply"),
            "refiner",
            True,
            dataset_opts=("--source",),
            new_dataset_opt="--name",
        ),
        JobKind(
            "benchmark-train",
            "train_reid",
            ("benchmark", "train"),
            "reid",
            False,
            dataset_opts=("--train", "--val", "--test"),
            run_opts=("--finetune-from",),
        ),
        JobKind(
            "benchmark-eval",
            "eval_reid",
            ("benchmark", "eval"),
            "reid",
            True,
            dataset_opts=("--test",),
            forced=(),
        ),
    )
}
GPU_TASK_KINDS = {j.task_kind: j for j in JOBS.values()}

# Dests of the sub-command parsers that hold paths; each parsed value must stay in the data dir.
PATH_DESTS = (
    "source",
    "target",
    "target_masks",
    "out",
    "train",
    "val",
    "test",
    "finetune_from",
    "run",
    "checkpoint",
    "weights",
)


@dataclass
class JobPlan:
    """A validated job, resolved against one data directory."""

    job: JobKind
    run: str
    args: list[str]  # as submitted (names)
    argv: list[str]  # `synthreid` arguments (paths)
    run_dir: Path
    inputs: dict = field(default_factory=dict)  # option -> dataset/run name(s)
    new_dataset: str | None = None
    new_dataset_dir: Path | None = None


def validate_payload(payload) -> tuple[JobKind, str, list[str]]:
    """(job kind, run name, args) of a payload dict, or JobError naming the bad field."""
    if not isinstance(payload, dict):
        raise JobError(f"payload: expected a JSON object, got {type(payload).__name__}")
    command = payload.get("command")
    if command not in JOBS:
        raise JobError(f"payload.command: {command!r} is not a gpu job (expected one of {', '.join(JOBS)})")
    run = payload.get("run")
    try:
        check_dataset_name(run)
    except SynthreidError:
        raise JobError(
            f"payload.run: run name {run!r}: expected 1-128 letters, digits, '.', '_' or '-' "
            "(no path separators)"
        ) from None
    args = payload.get("args")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise JobError("payload.args: expected a list of strings (the sub-command's arguments)")
    if len(args) > MAX_ARGS or any(len(a) > MAX_ARG_CHARS or "\x00" in a for a in args):
        raise JobError(
            f"payload.args: at most {MAX_ARGS} arguments of {MAX_ARG_CHARS} characters, no NUL bytes"
        )
    return JOBS[command], run, list(args)


def make_payload(command: str, run: str, args: list[str]) -> dict:
    payload = {"command": command, "run": run, "args": list(args)}
    validate_payload(payload)
    return payload


def _subparser(cli: tuple[str, ...]) -> argparse.ArgumentParser:
    from synthreid.cli import build_parser

    parser = build_parser()
    for word in cli:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or word not in sub.choices:
            raise JobError(f"`synthreid {' '.join(cli)}` is not available in this installation")
        parser = sub.choices[word]
    return parser


def _name(opt: str, value: str, what: str) -> str:
    try:
        return check_dataset_name(value)
    except SynthreidError:
        raise JobError(
            f"{opt} {value!r}: expected a {what} name under the data directory (letters, digits, "
            "'.', '_' or '-'; no paths)"
        ) from None


def _inside(base: Path, rel: str, opt: str) -> Path:
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts:
        raise JobError(f"{opt} {rel!r}: expected a relative path inside {base.name}/ (no '..', not absolute)")
    return base.joinpath(*p.parts)


def build_plan(payload, data_dir: str | Path, known: Callable[[str, str], bool] | None = None) -> JobPlan:
    """Validate ``payload`` and resolve it against ``data_dir`` into the ``synthreid`` argv.

    ``known(kind, name)`` (kind 'dataset' or 'run') says whether a referenced dataset or run
    exists; default: its folder exists under ``data_dir``. Raises JobError.
    """
    job, run, args = validate_payload(payload)
    data_dir = Path(data_dir).resolve()
    if known is None:

        def known(kind, name):
            return (data_dir / ("datasets" if kind == "dataset" else "runs") / name).is_dir()

    parser = _subparser(job.cli)
    actions = {opt: a for a in parser._actions for opt in a.option_strings}
    run_dir = data_dir / "runs" / run
    if job.run_exists and not known("run", run):
        raise JobError(
            f"run {run!r}: unknown run (no {run_dir} and not in the catalog); "
            f"`synthreid submit {job.command}` works on an existing run"
        )
    plan = JobPlan(job=job, run=run, args=args, argv=[], run_dir=run_dir)
    out: list[str] = []
    i = 0
    run_given = False
    while i < len(args):
        tok = args[i]
        i += 1
        if not tok.startswith("-") or tok == "-":
            if job.run_exists and tok == run and not run_given:
                run_given = True
                continue  # the RUN positional, given explicitly: it is --name anyway
            raise JobError(
                f"{job.command}: unexpected argument {tok!r} (give datasets and runs by option; "
                "the run is --name)"
            )
        opt, eq, value = tok.partition("=")
        if opt in ("-h", "--help") or opt not in actions:
            raise JobError(
                f"{job.command}: unknown option {opt!r} for `synthreid {' '.join(job.cli)}` "
                "(options must be spelled out in full)"
            )
        if opt in job.forced:
            raise JobError(
                f"{job.command}: {opt} is set by the farm (runs/NAME or datasets/NEW); leave it out"
            )
        if actions[opt].nargs == 0:
            if eq:
                raise JobError(f"{job.command}: {opt} takes no value")
            out.append(opt)
            continue
        if not eq:
            if i >= len(args):
                raise JobError(f"{job.command}: {opt} needs a value")
            value = args[i]
            i += 1
        out += [opt, _resolve(plan, opt, value, data_dir, known)]
    if job.new_dataset_opt and plan.new_dataset is None:
        raise JobError(
            f"{job.command}: {job.new_dataset_opt} NEW (the name of the dataset it creates) is required"
        )
    if job.run_exists:
        out.insert(0, str(run_dir))
    if "--out" in job.forced:
        out += ["--out", str(plan.new_dataset_dir if job.new_dataset_opt else run_dir)]
    plan.argv = [*job.cli, *out]
    _parse_check(parser, plan, out, data_dir)
    return plan


def _resolve(plan: JobPlan, opt: str, value: str, data_dir: Path, known) -> str:
    job = plan.job
    if opt in job.dataset_opts:
        name = _name(opt, value.removeprefix(CATALOG_PREFIX), "dataset")
        if not known("dataset", name):
            raise JobError(
                f"{opt} {name!r}: no dataset of that name (not in {data_dir / 'datasets'} nor in the catalog)"
            )
        plan.inputs.setdefault(opt.lstrip("-").replace("-", "_"), []).append(name)
        path = data_dir / "datasets" / name
        if not path.is_dir():
            return CATALOG_PREFIX + name  # in the catalog only (imported): the sub-command resolves it
        sub = {"--target": "images", "--target-masks": "masks"}.get(opt)
        if sub and (path / sub).is_dir():
            path = path / sub  # a dataset in the canonical layout: its images/ (masks/) folder
        return str(path)
    if opt in job.run_opts:
        name = _name(opt, value, "run")
        if not known("run", name):
            raise JobError(
                f"{opt} {name!r}: unknown run (no {data_dir / 'runs' / name} and not in the catalog)"
            )
        plan.inputs.setdefault(opt.lstrip("-").replace("-", "_"), []).append(name)
        return str(data_dir / "runs" / name)
    if opt == job.new_dataset_opt:
        name = _name(opt, value, "dataset")
        plan.new_dataset, plan.new_dataset_dir = name, data_dir / "datasets" / name
        return name
    if opt == "--weights":
        return str(data_dir / "weights" / _name(opt, value, "weights file"))
    if opt == "--checkpoint":
        return str(_inside(plan.run_dir, value, opt))
    return value


def _parse_check(parser: argparse.ArgumentParser, plan: JobPlan, out: list[str], data_dir: Path) -> None:
    """Parse with the real sub-command parser; every path it yields must be inside ``data_dir``."""
    msgs = io.StringIO()

    def error(message):
        raise JobError(f"{plan.job.command}: {message}")

    orig = parser.error
    parser.error = error
    try:
        with contextlib.redirect_stderr(msgs), contextlib.redirect_stdout(msgs):
            ns = parser.parse_args(out)
    except SystemExit:
        raise JobError(f"{plan.job.command}: invalid arguments ({msgs.getvalue().strip()})") from None
    finally:
        parser.error = orig
    for dest in PATH_DESTS:
        vals = getattr(ns, dest, None)
        for v in vals if isinstance(vals, list) else [vals]:
            if str(v).startswith(CATALOG_PREFIX):
                continue  # a checked dataset name, resolved from the catalog by the sub-command
            if v is not None and not Path(v).resolve().is_relative_to(data_dir):
                raise JobError(f"{plan.job.command}: {dest} {v}: outside the data directory {data_dir}")
