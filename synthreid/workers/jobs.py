"""GPU-queue tasks: refiner and re-ID runs as farm tasks (design §1, §4), as typed payloads.

One frozen dataclass per job kind (:class:`RefineTrainJob`, :class:`RefineApplyJob`,
:class:`BenchmarkTrainJob`, :class:`BenchmarkEvalJob`) holds what the farm must understand:
the run's name and every dataset, run or file the job reads or writes, as *names* resolved
against the worker's own ``SYNTHREID_DATA_DIR``. Everything else (iterations, learning rate,
device...) is ``options``: the sub-command's own options, passed through untouched and parsed
by the sub-command in the worker's child process. The payload stored in the catalog is the
job's ``to_payload()`` (JSON, ``"version": 2``); ``job_from_payload`` validates one without
any command-line parser:

- names are checked by ``check_dataset_name``; a dataset name (or ``catalog:NAME``, the same)
  becomes ``datasets/NAME`` (``--target``/``--target-masks``: its ``images``/``masks`` folder
  when present), or stays ``catalog:NAME`` for a catalog dataset without a folder (kind
  ``imported``), which the sub-command resolves (``synthreid.catalog_names``); a run name
  becomes ``runs/NAME`` (it must exist); ``weights`` -> ``DATA_DIR/weights/FILE``;
  ``checkpoint`` stays inside the run; the output (``--out``) is set by the farm;
- ``options`` may not name any of those options (nor an abbreviation argparse would expand to
  one, nor ``--help``, nor a short option), so no payload reaches outside the data directory.

Whether the remaining options exist and their values parse is the sub-command's business: the
command line checks it at submit time (``synthreid submit`` dry-runs the parser), the child
again when it runs. Payloads of version 1 (``{"command", "run", "args"}``, before 2026-12) are
read through :func:`job_from_args`, the same reader as ``synthreid submit ... -- ARGS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from synthreid.dataset import check_dataset_name
from synthreid.errors import SynthreidError

GPU_QUEUE = "gpu"
CATALOG_PREFIX = "catalog:"  # synthreid.catalog_names.PREFIX
PAYLOAD_VERSION = 2
MAX_ARGS = 200
MAX_ARG_CHARS = 4096


class JobError(SynthreidError):
    """A gpu task's payload or arguments are invalid; the message names the field or option."""


class Ref(StrEnum):
    """What a job field names (how the worker resolves it)."""

    DATASET = "dataset"  # an existing dataset: datasets/NAME or catalog:NAME
    RUN = "run"  # an existing run: runs/NAME
    NEW_DATASET = "new dataset"  # the dataset the job creates: datasets/NAME
    WEIGHTS = "weights file"  # DATA_DIR/weights/FILE
    CHECKPOINT = "checkpoint"  # a relative path inside the job's run folder


@dataclass(frozen=True)
class Opt:
    """One option of the sub-command carried as a typed field: ``--flag`` <-> ``field``."""

    flag: str
    field: str
    ref: Ref
    many: bool = False  # repeated option, a tuple field


@dataclass(frozen=True)
class GpuJob:
    """Fields common to every gpu job; the kinds below add their typed inputs."""

    command: ClassVar[str]  # `synthreid submit COMMAND`
    task_kind: ClassVar[str]  # tasks.kind
    cli: ClassVar[tuple[str, str]]  # `synthreid A B ...` run by the child
    run_kind: ClassVar[str]  # runs.kind: refiner | reid
    run_exists: ClassVar[bool]  # the run must already exist; it is the sub-command's RUN positional
    opts: ClassVar[tuple[Opt, ...]]
    forced: ClassVar[tuple[str, ...]] = ("--out",)  # options the farm sets itself

    run: str
    options: tuple[str, ...]

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": PAYLOAD_VERSION, "command": self.command}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def references(self) -> list[tuple[Opt, str]]:
        """(option, name) of every dataset, run or file the job names, in option order."""
        out = []
        for o in self.opts:
            v = getattr(self, o.field)
            out += [(o, n) for n in (v if o.many else () if v is None else (v,))]
        return out


@dataclass(frozen=True)
class RefineTrainJob(GpuJob):
    command = "refine-train"
    task_kind = "train_refiner"
    cli = ("refine", "train")
    run_kind = "refiner"
    run_exists = False
    opts = (
        Opt("--source", "source", Ref.DATASET),
        Opt("--target", "target", Ref.DATASET),
        Opt("--target-masks", "target_masks", Ref.DATASET),
    )

    source: str
    target: str
    target_masks: str | None = None


@dataclass(frozen=True)
class RefineApplyJob(GpuJob):
    command = "refine-apply"
    task_kind = "apply_refiner"
    cli = ("refine", "apply")
    run_kind = "refiner"
    run_exists = True
    opts = (
        Opt("--source", "source", Ref.DATASET),
        Opt("--name", "name", Ref.NEW_DATASET),
        Opt("--checkpoint", "checkpoint", Ref.CHECKPOINT),
    )

    source: str
    name: str  # the refined dataset this job creates
    checkpoint: str | None = None


@dataclass(frozen=True)
class BenchmarkTrainJob(GpuJob):
    command = "benchmark-train"
    task_kind = "train_reid"
    cli = ("benchmark", "train")
    run_kind = "reid"
    run_exists = False
    opts = (
        Opt("--train", "train", Ref.DATASET, many=True),
        Opt("--val", "val", Ref.DATASET),
        Opt("--test", "test", Ref.DATASET, many=True),
        Opt("--finetune-from", "finetune_from", Ref.RUN),
        Opt("--weights", "weights", Ref.WEIGHTS),
    )

    train: tuple[str, ...]
    val: str | None = None
    test: tuple[str, ...] = ()
    finetune_from: str | None = None
    weights: str | None = None


@dataclass(frozen=True)
class BenchmarkEvalJob(GpuJob):
    command = "benchmark-eval"
    task_kind = "eval_reid"
    cli = ("benchmark", "eval")
    run_kind = "reid"
    run_exists = True
    forced = ()
    opts = (Opt("--test", "test", Ref.DATASET, many=True),)

    test: tuple[str, ...]


JOB_TYPES: tuple[type[GpuJob], ...] = (RefineTrainJob, RefineApplyJob, BenchmarkTrainJob, BenchmarkEvalJob)
JOBS: dict[str, type[GpuJob]] = {j.command: j for j in JOB_TYPES}
GPU_TASK_KINDS: dict[str, type[GpuJob]] = {j.task_kind: j for j in JOB_TYPES}
# Options of the sub-commands that hold paths or names; never allowed among ``options``.
RESERVED = ("--help", "--out", *sorted({o.flag for j in JOB_TYPES for o in j.opts}))


def _check_name(value: object, where: str, what: str) -> str:
    try:
        if not isinstance(value, str):
            raise SynthreidError("not a string")
        return check_dataset_name(value)
    except SynthreidError:
        raise JobError(
            f"{where} {value!r}: expected a {what} name (1-128 letters, digits, '.', '_' or '-'; no paths)"
        ) from None


def _check_options(command: str, options: object) -> tuple[str, ...]:
    if not isinstance(options, list | tuple) or not all(isinstance(a, str) for a in options):
        raise JobError(f"{command}: options: expected a list of strings (the sub-command's options)")
    if len(options) > MAX_ARGS or any(len(a) > MAX_ARG_CHARS or "\x00" in a for a in options):
        raise JobError(f"{command}: options: at most {MAX_ARGS} of {MAX_ARG_CHARS} characters, no NUL bytes")
    for tok in options:
        opt = tok.partition("=")[0]
        if tok.startswith("--") and len(opt) > 2:
            hits = [r for r in RESERVED if r.startswith(opt)]  # argparse expands unique prefixes
            if opt == "--out":
                raise JobError(
                    f"{command}: --out is set by the farm (runs/NAME or datasets/NEW); leave it out"
                )
            if opt == "--help":
                raise JobError(f"{command}: unknown option '--help' for a farm job")
            if opt in hits:
                raise JobError(f"{command}: {opt} names a dataset, run or file: give it as the job's field")
            if hits:
                raise JobError(
                    f"{command}: unknown option {opt!r}: an abbreviation of {', '.join(hits)} "
                    "(options must be spelled out in full)"
                )
        elif tok.startswith("-") and tok[1:2].isalpha():
            raise JobError(f"{command}: {tok!r}: short options are not accepted (spell the option out)")
    return tuple(options)


def make_job(command: str, **values: Any) -> GpuJob:
    """A validated job of ``command`` from its fields (names, not paths); JobError naming the field."""
    cls = JOBS.get(command)
    if cls is None:
        raise JobError(f"command {command!r}: not a gpu job (expected one of {', '.join(JOBS)})")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise JobError(f"{command}: unknown field(s) {', '.join(unknown)} (expected {', '.join(known)})")
    kw: dict[str, Any] = {"run": _check_name(values.get("run"), f"{command}: run", "run")}
    kw["options"] = _check_options(command, values.get("options", ()))
    for o in cls.opts:
        v = values.get(o.field)
        where = f"{command}: {o.field} ({o.flag})"
        if o.many:
            if v is None:
                v = []
            if not isinstance(v, list | tuple):
                raise JobError(f"{where}: expected a list of names, got {type(v).__name__}")
            kw[o.field] = tuple(_check_ref(o, x, where) for x in v)
        elif v is not None:
            kw[o.field] = _check_ref(o, v, where)
    required = {f.name for f in fields(cls) if f.default is MISSING}
    missing = [o for o in cls.opts if o.field in required and not kw.get(o.field)]
    if missing:
        what = " and ".join(f"{o.flag} ({o.ref.value} name)" for o in missing)
        raise JobError(f"{command}: {what} is required")
    return cls(**kw)


def _check_ref(o: Opt, value: object, where: str) -> str:
    if not isinstance(value, str):
        raise JobError(f"{where}: expected a name, got {type(value).__name__}")
    if o.ref is Ref.CHECKPOINT:
        p = PurePosixPath(value)
        if not value or p.is_absolute() or ".." in p.parts:
            raise JobError(
                f"{where} {value!r}: expected a relative path inside the run (no '..', not absolute)"
            )
        return value
    if o.ref is Ref.DATASET:
        value = value.removeprefix(CATALOG_PREFIX)
    return _check_name(value, where, o.ref.value)


def job_from_payload(payload: object) -> GpuJob:
    """The job of a stored task payload (version 2, or version 1's argument list)."""
    if not isinstance(payload, dict):
        raise JobError(f"payload: expected a JSON object, got {type(payload).__name__}")
    command = payload.get("command")
    if command not in JOBS:
        raise JobError(f"payload.command: {command!r} is not a gpu job (expected one of {', '.join(JOBS)})")
    version = payload.get("version", 1)
    if version == 1 and set(payload) <= {"command", "run", "args"}:
        return job_from_args(command, payload.get("run"), payload.get("args"))
    if version != PAYLOAD_VERSION:
        raise JobError(
            f"payload.version: {version!r} (this synthreid reads versions 1 and {PAYLOAD_VERSION})"
        )
    return make_job(command, **{k: v for k, v in payload.items() if k not in ("command", "version")})


def job_from_args(command: str, run: object, args: object) -> GpuJob:
    """The job of ``synthreid submit COMMAND --name RUN -- ARGS``: the options that name datasets,
    runs or files become fields; the others stay ``options`` in their order."""
    cls = JOBS.get(command)
    if cls is None:
        raise JobError(f"submit: {command!r} is not a gpu job (expected one of {', '.join(JOBS)})")
    if not isinstance(args, list | tuple) or not all(isinstance(a, str) for a in args):
        raise JobError(f"{command}: arguments: expected a list of strings (the sub-command's arguments)")
    by_flag = {o.flag: o for o in cls.opts}
    values: dict[str, Any] = {o.field: [] for o in cls.opts if o.many}
    options: list[str] = []
    run_given = False
    i = 0
    while i < len(args):
        tok = args[i]
        i += 1
        flag, eq, value = tok.partition("=")
        o = by_flag.get(flag)
        if o is None:
            if cls.run_exists and tok == run and not run_given and not options:
                run_given = True  # the RUN positional, given explicitly: it is --name anyway
                continue
            prev = options[-1] if options else ""
            if not tok.startswith("-") and not (prev.startswith("--") and "=" not in prev):
                raise JobError(
                    f"{command}: unexpected argument {tok!r} (give datasets and runs by option; the run is --name)"
                )
            options.append(tok)
            continue
        if not eq:
            if i >= len(args):
                raise JobError(f"{command}: {flag} needs a value")
            value = args[i]
            i += 1
        if o.many:
            values[o.field].append(value)
        elif o.field in values:
            raise JobError(f"{command}: {flag} given twice")
        else:
            values[o.field] = value
    return make_job(command, run=run, options=options, **values)


@dataclass
class JobPlan:
    """A validated job, resolved against one data directory."""

    job: GpuJob
    argv: list[str]  # `synthreid` arguments (paths)
    run_dir: Path
    inputs: dict[str, list[str]] = field(default_factory=dict)  # field -> dataset/run name(s)
    new_dataset: str | None = None
    new_dataset_dir: Path | None = None

    @property
    def run(self) -> str:
        return self.job.run


Known = Callable[[str, str], bool]


def build_plan(job: GpuJob | dict, data_dir: str | Path, known: Known | None = None) -> JobPlan:
    """Resolve ``job`` (or a stored payload) against ``data_dir`` into the ``synthreid`` argv.

    ``known(kind, name)`` (kind 'dataset' or 'run') says whether a referenced dataset or run
    exists; default: its folder exists under ``data_dir``. Raises JobError.
    """
    if not isinstance(job, GpuJob):
        job = job_from_payload(job)
    root = Path(data_dir).resolve()

    def exists(kind: str, name: str) -> bool:
        if known is not None:
            return known(kind, name)
        return (root / ("datasets" if kind == "dataset" else "runs") / name).is_dir()

    run_dir = root / "runs" / job.run
    if job.run_exists and not exists("run", job.run):
        raise JobError(
            f"run {job.run!r}: unknown run (no {run_dir} and not in the catalog); "
            f"`synthreid submit {job.command}` works on an existing run"
        )
    plan = JobPlan(job=job, argv=[], run_dir=run_dir)
    out: list[str] = [str(run_dir)] if job.run_exists else []
    for o, name in job.references():
        out += [o.flag, _resolve(plan, o, name, root, exists)]
    out += job.options
    if "--out" in job.forced:
        out += ["--out", str(plan.new_dataset_dir or run_dir)]
    plan.argv = [*job.cli, *out]
    return plan


def _resolve(plan: JobPlan, o: Opt, name: str, root: Path, exists: Known) -> str:
    if o.ref is Ref.DATASET:
        if not exists("dataset", name):
            raise JobError(
                f"{o.flag} {name!r}: no dataset of that name (not in {root / 'datasets'} nor in the catalog)"
            )
        plan.inputs.setdefault(o.field, []).append(name)
        path = root / "datasets" / name
        if not path.is_dir():
            return CATALOG_PREFIX + name  # in the catalog only (imported): the sub-command resolves it
        sub = {"--target": "images", "--target-masks": "masks"}.get(o.flag)
        if sub and (path / sub).is_dir():
            path = path / sub  # a dataset in the canonical layout: its images/ (masks/) folder
        return str(path)
    if o.ref is Ref.RUN:
        if not exists("run", name):
            raise JobError(
                f"{o.flag} {name!r}: unknown run (no {root / 'runs' / name} and not in the catalog)"
            )
        plan.inputs.setdefault(o.field, []).append(name)
        return str(root / "runs" / name)
    if o.ref is Ref.NEW_DATASET:
        plan.new_dataset, plan.new_dataset_dir = name, root / "datasets" / name
        return name
    if o.ref is Ref.WEIGHTS:
        return str(root / "weights" / name)
    return str(plan.run_dir.joinpath(*PurePosixPath(name).parts))  # Ref.CHECKPOINT, checked relative
