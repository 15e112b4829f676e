"""The study file: a typed, frozen :class:`StudySpec` parsed from TOML and validated before any work.

Every error names the field as it is written in the file (``arms[2].kind``,
``test_sets[0].path``, ``recipe.lr``) and what was expected. Relative paths resolve against
the study file's folder, or against its ``root`` key (itself relative to that folder);
``catalog:NAME`` (dataset arms, test sets, refiner targets) resolves to the catalog dataset's
folder, which the study then keys by content like any folder. See docs/study.md for the format.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthreid.errors import DatasetError, SpecError, SynthreidError

PROTOCOLS = ("thesis", "market", "cuhk03")  # synthreid.benchmark.protocols.PROTOCOLS (torch-free copy)
FORMATS = ("synthreid", "market1501", "cuhk03np", "openreid")  # benchmark.datasets.FORMATS
# Training fields the study sets itself (datasets, seed, mixing); a recipe may not set them.
STUDY_CONTROLLED = ("train", "val", "test", "seed", "mix_ratio", "train_format", "val_format", "test_format")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


class StudySpecError(SpecError):
    """A study file is malformed; ``field`` is the path of the offending entry (``arms[2].kind``)."""


class ArmKind(enum.StrEnum):
    RENDER = "render"
    DATASET = "dataset"
    MIX = "mix"


ARM_KINDS = tuple(k.value for k in ArmKind)


@dataclass(frozen=True)
class RefineSpec:
    """A refiner trained from the arm's render toward ``target`` (a folder of real crops,
    searched recursively), then applied to the render. ``options``: more RefinerConfig fields."""

    target: str
    kind: str = "cyclegan"
    iters: int = 2000
    options: tuple[tuple[str, Any], ...] = ()

    def config_fields(self) -> dict:
        """RefinerConfig fields other than source/target."""
        return {"model": self.kind, "iters": self.iters, **dict(self.options)}


@dataclass(frozen=True)
class DegradeSpec:
    """The camera model (``synthreid degrade``) applied to the arm's render (after its refiner,
    if any): ``camera_model`` is the resolved CameraModelSpec dict, ``preset`` its name if any."""

    camera_model: dict
    seed: int = 0
    preset: str | None = None


@dataclass(frozen=True)
class ArmSpec:
    """One training set of the study.

    ``render``: the resolved DatasetSpec dict (kind render); ``path``/``format``: an existing
    dataset folder (kind dataset); ``parts``/``ratio``: names of other arms and the expected
    fraction of each batch from each (kind mix). ``recipe``: this arm's training overrides.
    ``anchor``: the real-trained anchor made from a test set's own training split.
    """

    name: str
    kind: ArmKind
    render: dict | None = None
    refine: RefineSpec | None = None
    path: str | None = None
    format: str | None = None
    parts: tuple[str, ...] = ()
    ratio: tuple[float, ...] = ()
    recipe: tuple[tuple[str, Any], ...] = ()
    anchor: bool = False
    render_workers: int | None = None
    reuse: tuple[str, ...] = ()  # earlier renders of the same spec whose finished images are linked in
    degrade: DegradeSpec | None = None


@dataclass(frozen=True)
class TestSetSpec:
    """A labelled real test set: folder, format (detected when not given) and protocol."""

    name: str
    path: str
    format: str
    protocol: str = "market"

    @property
    def has_train_split(self) -> bool:
        """Whether the folder has its own real training split (``bounding_box_train/`` with images)."""
        folder = Path(self.path) / "bounding_box_train"
        return folder.is_dir() and any(p.is_file() for p in folder.iterdir())


@dataclass(frozen=True)
class BaselineSpec:
    """Which baselines the report shows beside the arms (all by default)."""

    chance: bool = True
    untrained: bool = True
    handcrafted: bool = True
    real_anchor: bool = True
    chance_draws: int = 10  # random-feature draws averaged for the chance row


@dataclass(frozen=True)
class StudySpec:
    """A whole study: arms (user arms first, then real-trained anchors), seeds, one training
    recipe (TrainConfig fields), test sets and baselines. ``jobs``: steps run side by side
    (None: ``synthreid study`` decides; never part of a cache key)."""

    name: str
    path: str
    seeds: tuple[int, ...]
    recipe: tuple[tuple[str, Any], ...]
    arms: tuple[ArmSpec, ...]
    test_sets: tuple[TestSetSpec, ...]
    baselines: BaselineSpec = BaselineSpec()
    jobs: int | None = None

    def arm(self, name: str) -> ArmSpec:
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(name)

    def arm_recipe(self, arm: ArmSpec) -> dict:
        """The study recipe table with the arm's overrides applied (as written)."""
        return {**dict(self.recipe), **dict(arm.recipe)}

    def training_fields(self, arm: ArmSpec | None = None) -> dict:
        """TrainConfig fields of an arm (or of the study recipe): the recipe table, with a named
        preset (``recipe = "fast"``) expanded under the fields given explicitly."""
        return expand_recipe(self.arm_recipe(arm) if arm is not None else dict(self.recipe))


def expand_recipe(table: dict) -> dict:
    """TrainConfig fields of a recipe table (see :meth:`StudySpec.training_fields`)."""
    if "recipe" not in table:
        return dict(table)
    from synthreid.benchmark import recipes

    return recipes.apply(table["recipe"], {k: v for k, v in table.items() if k != "recipe"})


# ---- parsing ------------------------------------------------------------------------------------


def _err(field: str, message: str) -> StudySpecError:
    return StudySpecError(field, message)


def _table(value, field: str) -> dict:
    if not isinstance(value, dict):
        raise _err(field, f"expected a table, got {type(value).__name__} {value!r}")
    return value


def _check_keys(table: dict, field: str, allowed) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        prefix = f"{field}." if field else ""
        raise _err(f"{prefix}{unknown[0]}", f"unknown key; expected one of {', '.join(sorted(allowed))}")


def _int(value, field: str, lo: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise _err(field, f"expected an integer >= {lo}, got {value!r}")
    return value


def _str(value, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise _err(field, f"expected a non-empty string, got {value!r}")
    return value


def _name(value, field: str) -> str:
    value = _str(value, field)
    if not _NAME_RE.match(value):
        raise _err(field, f"{value!r}: expected 1-64 letters, digits, '.', '_', '+' or '-'")
    return value


def _choice(value, field: str, choices) -> str:
    if value not in choices:
        raise _err(field, f"expected one of {', '.join(choices)}; got {value!r}")
    return value


def _folder(value, field: str, base: Path) -> Path:
    p = Path(_str(value, field)).expanduser()
    p = (base / p).resolve() if not p.is_absolute() else p.resolve()
    if not p.is_dir():
        raise _err(field, f"{p}: no such folder")
    return p


def _catalog(value, field: str):
    """The catalog dataset of a ``catalog:NAME`` value (synthreid.catalog_names), None for a folder."""
    if not (isinstance(value, str) and value.startswith("catalog:")):
        return None
    from synthreid.catalog_names import resolve_dataset

    try:
        return resolve_dataset(value)
    except SynthreidError as exc:
        raise _err(field, str(exc)) from exc


def _dataset_folder(table: dict, field: str, base: Path) -> tuple[Path, str]:
    """(folder, format) of a dataset arm's or test set's ``path``: a folder (format given or
    detected) or ``catalog:NAME`` (the catalog's folder and format; a given format must agree)."""
    cat = _catalog(table["path"], f"{field}.path")
    if cat is None:
        path = _folder(table["path"], f"{field}.path", base)
        return path, _detect(path, table.get("format"), field, field)
    if table.get("format") is not None and _choice(table["format"], f"{field}.format", FORMATS) != cat.format:
        raise _err(
            f"{field}.format", f"{cat.ref} is a {cat.format} dataset, not {table['format']}; leave format out"
        )
    return cat.folder.resolve(), cat.format


def _size(value, field: str) -> list[int]:
    """Output size as [width, height] from [w, h] or "WxH"."""
    if isinstance(value, str) and (m := _SIZE_RE.match(value)):
        w, h = int(m[1]), int(m[2])
    elif isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        w, h = value
    else:
        raise _err(field, f'expected [width, height] or "WIDTHxHEIGHT" in pixels, got {value!r}')
    if w < 1 or h < 1:
        raise _err(field, f"expected positive sides, got {value!r}")
    return [w, h]


def _detect(path: Path, fmt, field: str, base_field: str) -> str:
    if fmt is not None:
        return _choice(fmt, f"{field}.format", FORMATS)
    from synthreid.benchmark.datasets import detect_format

    try:
        return detect_format(path)
    except DatasetError as exc:
        raise _err(f"{base_field}.path", f"{exc} (or give format = one of {', '.join(FORMATS)})") from exc


def _recipe(value, field: str) -> tuple[tuple[str, Any], ...]:
    table = _table(value, field)
    for key in table:
        if key in STUDY_CONTROLLED:
            raise _err(f"{field}.{key}", "set by the study itself (arms, seeds, test sets); remove it")
    return tuple(sorted(table.items()))


def check_recipe(recipe: dict, field: str) -> None:
    """Refuse unknown or invalid training fields (imports the benchmark engine, i.e. torch)."""
    from synthreid.benchmark.engine import TrainConfig

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in recipe:
        if key not in names:
            known = ", ".join(sorted(names - set(STUDY_CONTROLLED)))
            raise _err(f"{field}.{key}", f"unknown training field; known: {known}")
    try:
        cfg = TrainConfig.from_dict({**expand_recipe(recipe), "train": ["study-arm"], "val": "study-arm"})
        cfg.validate()
    except (SynthreidError, TypeError, ValueError) as exc:
        raise _err(field, f"invalid training recipe ({exc})") from exc


def _refine(value, field: str, base: Path) -> RefineSpec:
    from synthreid.refine.config import MODELS, RefinerConfig

    table = dict(_table(value, field))
    if "target" not in table:
        raise _err(f"{field}.target", "missing: a folder of real crops (searched recursively)")
    cat = _catalog(table["target"], f"{field}.target")
    try:
        target = cat.image_folder().resolve() if cat else _folder(table["target"], f"{field}.target", base)
    except DatasetError as exc:
        raise _err(f"{field}.target", str(exc)) from exc
    table.pop("target")
    kind = _choice(table.pop("kind", "cyclegan"), f"{field}.kind", MODELS)
    iters = _int(table.pop("iters", 2000), f"{field}.iters")
    names = {f.name for f in dataclasses.fields(RefinerConfig)} - {"source", "target", "model", "iters"}
    _check_keys(table, field, names | {"target", "kind", "iters"})
    for key in ("target_masks",):
        if key in table:
            table[key] = str(_folder(table[key], f"{field}.{key}", base))
    try:
        RefinerConfig.from_dict({"source": "s", "target": "t", "model": kind, "iters": iters, **table})
    except SynthreidError as exc:
        raise _err(field, f"invalid refiner options ({exc})") from exc
    return RefineSpec(str(target), kind, iters, tuple(sorted(table.items())))


def _degrade(value, field: str, base: Path) -> DegradeSpec:
    """``degrade = { preset = "surveillance", seed = 0 }`` or ``{ config = "cam.toml" }`` (default preset
    surveillance, seed 0); ``occlusion = RATE`` or ``occlusion = { rate = .., coverage = .., .. }``
    sets the occlusion of that camera model (render.occlusion)."""
    from synthreid.render.camera_model import CameraModelSpec

    table = _table(value, field)
    _check_keys(table, field, {"preset", "config", "seed", "occlusion"})
    if "preset" in table and "config" in table:
        raise _err(f"{field}.config", "give preset or config, not both")
    seed = _int(table.get("seed", 0), f"{field}.seed", lo=0)
    preset = None
    try:
        if "config" in table:
            path = Path(_str(table["config"], f"{field}.config")).expanduser()
            path = path if path.is_absolute() else base / path
            if not path.is_file():
                raise _err(f"{field}.config", f"{path.resolve()}: no such file")
            spec = CameraModelSpec.from_toml(path)
        else:
            preset = _str(table.get("preset", "surveillance"), f"{field}.preset")
            spec = CameraModelSpec.preset(preset)
    except StudySpecError:
        raise
    except SpecError as exc:
        raise _err(f"{field}.{'config' if 'config' in table else 'preset'}", str(exc)) from exc
    if "occlusion" in table:
        spec, preset = _with_occlusion(spec, table["occlusion"], f"{field}.occlusion"), None
    return DegradeSpec(spec.to_dict(), seed, preset)


def _with_occlusion(spec, value, field: str):
    """``spec`` with its occlusion set from a rate (the other values kept or defaulted) or a table."""
    import dataclasses

    from synthreid.render.occlusion import OcclusionSpec

    is_rate = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (is_rate or isinstance(value, dict)):
        raise _err(field, f"expected a rate 0-1 or a table of occlusion fields, got {value!r}")
    try:
        if is_rate:
            occlusion = dataclasses.replace(spec.occlusion or OcclusionSpec(), rate=value)
        else:
            occlusion = OcclusionSpec.from_dict(value, source=field)
    except SpecError as exc:
        raise _err(field, str(exc)) from exc
    return dataclasses.replace(spec, occlusion=occlusion)


def _render_spec(table: dict, field: str, base: Path) -> dict:
    from synthreid.render.spec import DatasetSpec, preset_names

    has_preset, has_spec = "preset" in table, "spec" in table
    if has_preset == has_spec:
        raise _err(
            f"{field}.preset",
            "give exactly one of preset (I, II, III, IV, IV-realistic) or spec (a TOML file)",
        )
    try:
        if has_preset:
            preset = _str(table["preset"], f"{field}.preset")
            if preset not in preset_names():
                raise _err(f"{field}.preset", f"expected one of {', '.join(preset_names())}; got {preset!r}")
            spec, stem = DatasetSpec.preset(preset), preset
        else:
            path = Path(_str(table["spec"], f"{field}.spec")).expanduser()
            path = path if path.is_absolute() else base / path
            if not path.is_file():
                raise _err(f"{field}.spec", f"{path.resolve()}: no such file")
            spec, stem = DatasetSpec.from_toml(path), spec_stem(path)
    except StudySpecError:
        raise
    except SpecError as exc:
        raise _err(f"{field}.{'preset' if has_preset else 'spec'}", str(exc)) from exc
    ids = _int(table.get("identities", spec.characters), f"{field}.identities")
    images = _int(table.get("images", spec.images_per_character), f"{field}.images")
    # Test identities come from the real test sets: every rendered identity trains, except a
    # validation slice that picks the best epoch.
    val = _int(table.get("val_identities", min(100, max(2, ids // 10))), f"{field}.val_identities")
    if val >= ids:
        raise _err(f"{field}.val_identities", f"expected fewer than identities ({ids}), got {val}")
    data = spec.to_dict()
    data.update(
        characters=ids,
        images_per_character=images,
        name=f"{stem}-{ids}x{images}",
        splits={"test": 0, "val": val},
    )
    if "seed" in table:
        data["seed"] = _int(table["seed"], f"{field}.seed", lo=0)
    if "size" in table:
        data["output"] = {**data["output"], "size": _size(table["size"], f"{field}.size")}
    if "samples" in table:
        data["render"] = {**data["render"], "samples": _int(table["samples"], f"{field}.samples")}
    try:
        return DatasetSpec.from_dict(data).to_dict()
    except SpecError as exc:
        raise _err(field, f"render spec: {exc}") from exc


# Spec fields that name or split a dataset but change no pixel of it.
REUSABLE_DIFFERENCES = ("name", "splits")


def _spec_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        if not prefix and key in REUSABLE_DIFFERENCES:
            continue
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _spec_differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(f"{prefix}{key}")
    return out


def _reuse(value, field: str, base: Path, render: dict) -> tuple[str, ...]:
    """Folders of earlier renders (e.g. by ``synthreid render``) of this arm's spec: same
    everything but name and identity splits, so their images are this arm's images."""
    import json

    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _err(field, f"expected a folder or a list of folders, got {value!r}")
    out = []
    for j, v in enumerate(values):
        f = f"{field}[{j}]" if isinstance(value, list) else field
        folder = _folder(v, f, base)
        try:
            made = json.loads((folder / "manifest.json").read_text()).get("spec")
        except (OSError, ValueError, AttributeError):
            made = None
        if not isinstance(made, dict):
            raise _err(f, f"{folder}: not a rendered dataset (no manifest.json with a spec)")
        diff = _spec_differences(made, render)
        if diff:
            raise _err(
                f,
                f"{folder} was rendered from another spec (differs in {', '.join(diff[:6])}); "
                "only a render of the same spec (name and splits aside) can be reused",
            )
        out.append(str(folder))
    return tuple(out)


def spec_stem(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]", "-", path.stem).strip("-.") or "spec"
    return stem[:64]


_ARM_KEYS = {
    ArmKind.RENDER: {
        "name",
        "kind",
        "preset",
        "spec",
        "identities",
        "images",
        "size",
        "samples",
        "seed",
        "val_identities",
        "refine",
        "recipe",
        "workers",
        "reuse",
        "degrade",
    },
    ArmKind.DATASET: {"name", "kind", "path", "format", "recipe"},
    ArmKind.MIX: {"name", "kind", "arms", "ratio", "recipe"},
}


def _arm(value, i: int, base: Path) -> ArmSpec:
    field = f"arms[{i}]"
    table = _table(value, field)
    if "name" not in table:
        raise _err(f"{field}.name", "missing")
    name = _name(table["name"], f"{field}.name")
    kind = ArmKind(_choice(table.get("kind"), f"{field}.kind", ARM_KINDS))
    _check_keys(table, field, _ARM_KEYS[kind])
    recipe = _recipe(table.get("recipe", {}), f"{field}.recipe")
    if kind is ArmKind.RENDER:
        refine = _refine(table["refine"], f"{field}.refine", base) if "refine" in table else None
        workers = _int(table["workers"], f"{field}.workers") if "workers" in table else None
        render = _render_spec(table, field, base)
        reuse = _reuse(table.get("reuse", []), f"{field}.reuse", base, render)
        degrade = _degrade(table["degrade"], f"{field}.degrade", base) if "degrade" in table else None
        return ArmSpec(
            name,
            kind,
            render=render,
            refine=refine,
            recipe=recipe,
            render_workers=workers,
            reuse=reuse,
            degrade=degrade,
        )
    if kind is ArmKind.DATASET:
        if "path" not in table:
            raise _err(f"{field}.path", "missing: a dataset folder (any format synthreid benchmark reads)")
        path, fmt = _dataset_folder(table, field, base)
        return ArmSpec(name, kind, path=str(path), format=fmt, recipe=recipe)
    parts = table.get("arms")
    if not isinstance(parts, list) or len(parts) < 2 or not all(isinstance(p, str) for p in parts):
        raise _err(f"{field}.arms", f"expected a list of 2 or more arm names, got {parts!r}")
    if len(set(parts)) != len(parts):
        raise _err(f"{field}.arms", f"lists an arm twice: {parts!r}")
    ratio = table.get("ratio", [1.0] * len(parts))
    if (
        not isinstance(ratio, list)
        or len(ratio) != len(parts)
        or not all(isinstance(r, (int, float)) and not isinstance(r, bool) and r >= 0 for r in ratio)
        or sum(ratio) <= 0
    ):
        raise _err(
            f"{field}.ratio",
            f"expected {len(parts)} non-negative weights with a positive sum "
            f"(one per entry of arms), got {ratio!r}",
        )
    return ArmSpec(name, kind, parts=tuple(parts), ratio=tuple(float(r) for r in ratio), recipe=recipe)


def _test_set(value, i: int, base: Path) -> TestSetSpec:
    field = f"test_sets[{i}]"
    table = _table(value, field)
    _check_keys(table, field, {"name", "path", "format", "protocol"})
    if "name" not in table:
        raise _err(f"{field}.name", "missing")
    name = _name(table["name"], f"{field}.name")
    if "path" not in table:
        raise _err(f"{field}.path", "missing: a labelled test set folder")
    path, fmt = _dataset_folder(table, field, base)
    protocol = _choice(table.get("protocol", "market"), f"{field}.protocol", PROTOCOLS)
    return TestSetSpec(name, str(path), fmt, protocol)


def _baselines(value) -> BaselineSpec:
    table = _table(value, "baselines")
    allowed = {f.name for f in dataclasses.fields(BaselineSpec)}
    _check_keys(table, "baselines", allowed)
    for key, v in table.items():
        if key == "chance_draws":
            _int(v, "baselines.chance_draws")
        elif not isinstance(v, bool):
            raise _err(f"baselines.{key}", f"expected true or false, got {v!r}")
    return BaselineSpec(**table)


def parse_study(data: dict, path: str | Path) -> StudySpec:  # noqa: C901, PLR0912 - one check per top-level TOML table, in file order
    """Validate a study dict (as read from TOML at ``path``) into a :class:`StudySpec`."""
    path = Path(path).resolve()
    _check_keys(data, "", {"name", "root", "seeds", "jobs", "recipe", "arms", "test_sets", "baselines"})
    # relative paths resolve against `root`, itself relative to the study file's folder
    base = _folder(data.get("root", "."), "root", path.parent)
    name = _name(data.get("name", spec_stem(path)), "name")
    seeds = data.get("seeds", [0, 1, 2])
    if not isinstance(seeds, list) or not seeds:
        raise _err("seeds", f"expected a non-empty list of integers (3 or more recommended), got {seeds!r}")
    for j, s in enumerate(seeds):
        _int(s, f"seeds[{j}]", lo=0)
    if len(set(seeds)) != len(seeds):
        raise _err("seeds", f"lists a seed twice: {seeds!r}")
    jobs = _int(data["jobs"], "jobs") if "jobs" in data else None
    recipe = _recipe(data.get("recipe", {}), "recipe")
    raw_arms = data.get("arms")
    if not isinstance(raw_arms, list) or not raw_arms:
        raise _err("arms", "expected one or more [[arms]] tables")
    raw_tests = data.get("test_sets")
    if not isinstance(raw_tests, list) or not raw_tests:
        raise _err("test_sets", "expected one or more [[test_sets]] tables")
    arms = [_arm(a, i, base) for i, a in enumerate(raw_arms)]
    tests = [_test_set(t, i, base) for i, t in enumerate(raw_tests)]
    baselines = _baselines(data.get("baselines", {}))
    for i, a in enumerate(arms):
        if a.name in {b.name for b in arms[:i]}:
            raise _err(f"arms[{i}].name", f"{a.name!r} is used by an earlier arm")
    for i, t in enumerate(tests):
        if t.name in {u.name for u in tests[:i]}:
            raise _err(f"test_sets[{i}].name", f"{t.name!r} is used by an earlier test set")
    by_name = {a.name: a for a in arms}
    for i, a in enumerate(arms):
        for p in a.parts:
            if p not in by_name:
                raise _err(f"arms[{i}].arms", f"{p!r} is not the name of an arm of this study")
            if by_name[p].kind is ArmKind.MIX:
                raise _err(f"arms[{i}].arms", f"{p!r} is a mix itself; mix render or dataset arms")
    if baselines.real_anchor:
        for t in tests:
            if t.has_train_split:
                anchor = f"real-{t.name}"
                if anchor in by_name:
                    raise _err(
                        "arms",
                        f"{anchor!r} is the name of the real-trained anchor of test set "
                        f"{t.name!r}; rename the arm",
                    )
                arms.append(ArmSpec(anchor, ArmKind.DATASET, path=t.path, format=t.format, anchor=True))
    spec = StudySpec(name, str(path), tuple(seeds), recipe, tuple(arms), tuple(tests), baselines, jobs)
    check_recipe(dict(recipe), "recipe")
    for i, a in enumerate(arms):
        if a.recipe:
            check_recipe(spec.arm_recipe(a), f"arms[{i}].recipe")
    return spec


def load_study(path: str | Path) -> StudySpec:
    """Read and validate a study TOML file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise StudySpecError("", f"{path}: cannot read study file ({exc.strerror})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudySpecError("", f"{path}: invalid TOML ({exc})") from exc
    return parse_study(data, path)
