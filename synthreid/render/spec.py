"""DatasetSpec: the single, frozen, validated description of a rendered dataset.

A spec is read from TOML (a file or a preset name under ``assets/presets``). Every section is
a frozen dataclass; unknown keys, wrong types and out-of-range values raise ``SpecError``
naming the dotted field and what was allowed, before anything is written.

Frames and units: metres, degrees, pixels. The world is Z-up; the character stands on the
floor (z = 0) at the origin. Polar angles are measured from +Z (0 deg = straight above,
90 deg = level with the character's centre, 180 deg = straight below).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from synthreid.errors import SpecError
from synthreid.render.colournames import COLOUR_NAMES  # PETA's order of the appearance.*_colors weights

PRESET_DIR = Path(__file__).resolve().parent.parent / "assets" / "presets"

TOPS = ("tshirt", "longsleeve", "sweater", "jacket", "coat", "dress")
BOTTOMS = ("trousers", "jeans", "shorts", "skirt_short", "skirt_knee", "skirt_long")
SHOES = ("trainers", "shoes", "boots")
TEXTURES = ("plain", "stripes", "checks", "plaid", "dots", "print", "denim", "noise")
HAIR = ("bald", "short", "medium", "long", "ponytail", "bun")
SLEEVE_LENGTHS = ("long", "short", "none")
AGE_BANDS = (
    12.0,
    16.0,
    31.0,
    46.0,
    61.0,
    95.0,
)  # PETA's age bands in years: [12, 16), [16, 31), ... [61, 95]
_W5 = tuple[float, float, float, float, float]
_W6 = tuple[float, float, float, float, float, float]
_W11 = tuple[float, float, float, float, float, float, float, float, float, float, float]
ACCESSORIES = ("backpack", "shoulder_bag", "handbag", "hat", "cap", "glasses")


def _meta(
    lo: float | None = None,
    hi: float | None = None,
    *,
    positive: bool = False,
    ordered: bool = False,
    choices: tuple[str, ...] | None = None,
    doc: str = "",
) -> dict:
    return {"lo": lo, "hi": hi, "positive": positive, "ordered": ordered, "choices": choices, "doc": doc}


def _f(default, **kw):
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples / MappingProxy for frozen defaults")
    return field(default=default, metadata=_meta(**kw))


@dataclass(frozen=True)
class CameraSpec:
    """Cameras on a hemisphere segment around the character's centre."""

    distance: tuple[float, float] = _f(
        (7.0, 9.0),
        lo=0.5,
        hi=200.0,
        ordered=True,
        doc="camera distance R to the character's centre, metres [min, max]",
    )
    polar: tuple[float, float] = _f(
        (55.0, 85.0), lo=0.0, hi=180.0, ordered=True, doc="polar angles theta1..theta2 from +Z, degrees"
    )
    focal_length: float = _f(50.0, positive=True, doc="lens focal length, mm")
    sensor_width: float = _f(36.0, positive=True, doc="sensor width, mm (horizontal fit)")
    resolution: tuple[int, int] = _f((1920, 1080), lo=16, hi=16384, doc="full frame (width, height), px")
    camera_ids: int = _f(6, lo=1, hi=99, doc="azimuth bins that become camera ids 1..K")


@dataclass(frozen=True)
class OutputSpec:
    """What is written per image."""

    margin: float = _f(0.03, lo=0.0, hi=1.0, doc="crop margin as a fraction of the box's larger side")
    size: tuple[int, int] | None = _f(
        None, lo=8, hi=4096, doc="fixed output (width, height) px; None keeps the crop size"
    )
    format: str = _f("png", choices=("png", "jpg"))
    crop: str = _f(
        "silhouette",
        choices=("silhouette", "box"),
        doc="'silhouette': tight box of the projected posed mesh; 'box': the thesis' "
        "projected 8 corners of the 3D bounding box (looser)",
    )
    supersample: float = _f(
        1.0,
        lo=0.0,
        hi=4.0,
        doc="with a fixed size, render the crop at this multiple of the output "
        "height (scaling the frame); 0 = always render at camera.resolution",
    )


@dataclass(frozen=True)
class RenderSpec:
    """Cycles settings (CPU)."""

    samples: int = _f(
        20,
        lo=1,
        hi=4096,
        doc="Cycles samples per pixel; 20 with the 'fast' OIDN prefilter matches 16 with 'accurate' "
        "in quality at 1.26x the speed (README, Performance)",
    )
    denoise: bool = _f(True)
    max_bounces: int = _f(4, lo=0, hi=64)
    threads: int = _f(
        0,
        lo=0,
        hi=1024,
        doc="Cycles threads per worker, and the size of Blender's thread pool when the worker's first "
        "session imports bpy; 0 = all cores",
    )
    light_tree: bool = _f(False, doc="Cycles light tree (slower on simple scenes)")
    denoise_prefilter: str = _f(
        "fast",
        choices=("accurate", "fast", "none"),
        doc="OIDN prefilter of the albedo/normal passes: 'accurate' runs two more networks per image, "
        "'fast' uses the passes as they are (README, Performance)",
    )
    denoise_quality: str = _f("high", choices=("high", "balanced", "fast"), doc="OIDN network size")


@dataclass(frozen=True)
class PeopleSpec:
    """Body and motion distributions."""

    female_fraction: float = _f(0.5, lo=0.0, hi=1.0)
    age: tuple[float, float] = _f((16.0, 75.0), lo=12.0, hi=95.0, ordered=True, doc="years")
    height_adult: tuple[float, float] = _f(
        (1.50, 2.00), lo=1.2, hi=2.3, ordered=True, doc="adult height range, metres (teens scale down)"
    )
    bmi: tuple[float, float] = _f((18.5, 32.0), lo=14.0, hi=50.0, ordered=True, doc="body-mass index kg/m^2")
    pose: str = _f("walk", choices=("walk", "stand", "mixed"))
    motion_dir: str | None = _f(None, doc="folder of BVH clips to use instead of the built-in walk")
    hand_poses: tuple[float, float, float] = _f(
        (0.8, 0.1, 0.1),
        lo=0.0,
        hi=1.0,
        doc="relative weights per character of free hands, a phone held in the right hand, hands in pockets",
    )
    meshes_dir: str | None = _f(
        None,
        doc="folder of the user's rigged characters (.glb/.gltf/.fbx, see "
        "docs/assets.md); None = procedural people only",
    )
    mesh_probability: float = _f(
        1.0,
        lo=0.0,
        hi=1.0,
        doc="chance per character of a user mesh from meshes_dir (else procedural); unused without it",
    )
    age_weights: _W5 | None = _f(
        None,
        lo=0.0,
        doc="relative weights of PETA's age bands <16, 16-30, 31-45, "
        "46-60, >60 years (uniform within a band and people.age); "
        "None = uniform over people.age",
    )

    def __post_init__(self):
        if sum(self.hand_poses) <= 0:
            raise SpecError("people.hand_poses", "at least one weight must be > 0")
        if self.age_weights is not None:
            live = [
                w > 0 and AGE_BANDS[i] < self.age[1] and AGE_BANDS[i + 1] > self.age[0]
                for i, w in enumerate(self.age_weights)
            ]
            if not any(live):
                raise SpecError(
                    "people.age_weights", f"no band with a weight > 0 overlaps people.age {list(self.age)}"
                )


@dataclass(frozen=True)
class AppearanceSpec:
    """Clothes, textures, hair and accessories."""

    palette: str = _f(
        "saturated",
        choices=("saturated", "realistic", "fitted"),
        doc="'fitted': top, bottom and jeans colours drawn by PETA colour name with the "
        "*_colors weights (shoes, bags, patterns: 'realistic')",
    )
    tops: tuple[str, ...] = _f(TOPS, choices=TOPS)
    bottoms: tuple[str, ...] = _f(BOTTOMS, choices=BOTTOMS)
    shoes: tuple[str, ...] = _f(SHOES, choices=SHOES, doc="empty = barefoot-coloured feet (thesis set I)")
    textures: tuple[str, ...] = _f(TEXTURES, choices=TEXTURES)
    texture_probability: float = _f(0.5, lo=0.0, hi=1.0, doc="chance a garment is not plain")
    hair: tuple[str, ...] = _f(HAIR, choices=HAIR, doc="allowed styles; ('bald',) = no hair")
    facial_hair_probability: float = _f(0.15, lo=0.0, hi=1.0, doc="per male adult")
    backpack: float = _f(0.15, lo=0.0, hi=1.0, doc="probability per character")
    shoulder_bag: float = _f(0.1, lo=0.0, hi=1.0)
    handbag: float = _f(0.08, lo=0.0, hi=1.0)
    hat: float = _f(0.05, lo=0.0, hi=1.0)
    cap: float = _f(0.08, lo=0.0, hi=1.0)
    glasses: float = _f(0.15, lo=0.0, hi=1.0)
    textures_dir: str | None = _f(
        None,
        doc="folder of PNG/JPG prints used by the 'print' texture "
        "(see docs/textures.md); None = procedural motifs",
    )
    # Fitted attribute probabilities (scripts/fit-appearance.py); None keeps the built-in weights.
    top_colors: _W11 | None = _f(
        None,
        lo=0.0,
        doc="palette 'fitted': weights of the 11 PETA colour names "
        "(Black, Blue, Brown, Green, Grey, Orange, Pink, Purple, "
        "Red, White, Yellow) for tops and dresses",
    )
    bottom_colors: _W11 | None = _f(
        None, lo=0.0, doc="palette 'fitted': colour-name weights of bottoms other than jeans"
    )
    jeans_colors: _W11 | None = _f(None, lo=0.0, doc="palette 'fitted': colour-name weights of jeans")
    top_weights_female: _W6 | None = _f(
        None, lo=0.0, doc="relative weights of tshirt, longsleeve, sweater, jacket, coat, dress for women"
    )
    top_weights_male: _W6 | None = _f(None, lo=0.0, doc="the same for men")
    bottom_weights_female: _W6 | None = _f(
        None,
        lo=0.0,
        doc="relative weights of trousers, jeans, shorts, skirt_short, skirt_knee, skirt_long for women",
    )
    bottom_weights_male: _W6 | None = _f(None, lo=0.0, doc="the same for men")
    hair_weights_female: _W6 | None = _f(
        None, lo=0.0, doc="relative weights of bald, short, medium, long, ponytail, bun for women"
    )
    hair_weights_male: _W6 | None = _f(None, lo=0.0, doc="the same for men")
    shirt_sleeves: tuple[float, float, float] | None = _f(
        None,
        lo=0.0,
        doc="relative weights of long, short "
        "and no sleeves of 'longsleeve' "
        "tops (shirts, blouses); None = long",
    )
    from_images: str | None = _f(
        None,
        doc="folder of real crops of your cameras: top colours drawn by PETA "
        "colour name as measured on their upper bodies, bottom and jeans "
        "colours as on their lower bodies (overrides palette and *_colors "
        "for those; see docs/stats.md)",
    )

    def __post_init__(self):
        names = {
            "top_weights": ("tops", TOPS),
            "bottom_weights": ("bottoms", BOTTOMS),
            "hair_weights": ("hair", HAIR),
        }
        for key, (allowed_key, order) in names.items():
            allowed = getattr(self, allowed_key)
            for sex in ("female", "male"):
                w = getattr(self, f"{key}_{sex}")
                if w is not None and not any(x > 0 for x, k in zip(w, order, strict=True) if k in allowed):
                    raise SpecError(
                        f"appearance.{key}_{sex}",
                        f"needs a weight > 0 for at least one of appearance.{allowed_key} {list(allowed)}",
                    )
        for key in ("top_colors", "bottom_colors", "jeans_colors", "shirt_sleeves"):
            w = getattr(self, key)
            if w is not None and sum(w) <= 0:
                raise SpecError(f"appearance.{key}", "at least one weight must be > 0")
        if self.palette == "fitted" and self.from_images is None:
            for key in ("top_colors", "bottom_colors", "jeans_colors"):
                if getattr(self, key) is None:
                    raise SpecError(
                        f"appearance.{key}",
                        "required with palette = 'fitted' unless from_images "
                        "is set (11 weights for "
                        f"{', '.join(COLOUR_NAMES)})",
                    )


@dataclass(frozen=True)
class BackgroundSpec:
    """Where the person stands.

    ``room``: fixed wall and floor colours; ``room_varied``: random plain colours per
    character; ``textured``: random procedural wall/floor textures; ``images``: a photo
    from ``images_dir`` behind the person; ``panorama``: an equirectangular panorama from
    ``panoramas_dir`` surrounds and lights the person (the thesis' cubemaps; see
    docs/backgrounds.md).
    """

    mode: str = _f("room", choices=("room", "room_varied", "textured", "images", "panorama"))
    wall_color: tuple[float, float, float] = _f((0.55, 0.06, 0.05), lo=0.0, hi=1.0, doc="linear RGB")
    floor_color: tuple[float, float, float] = _f((0.25, 0.25, 0.25), lo=0.0, hi=1.0, doc="linear RGB")
    images_dir: str | None = _f(None, doc="folder of background photos (mode 'images')")
    panoramas_dir: str | None = _f(None, doc="folder of equirectangular panoramas (mode 'panorama')")
    panorama_strength: tuple[float, float] = _f(
        (0.6, 1.4), lo=0.0, hi=20.0, ordered=True, doc="panorama light multiplier range (mode 'panorama')"
    )

    def __post_init__(self):
        if self.mode == "images" and not self.images_dir:
            raise SpecError("background.images_dir", "required when background.mode = 'images'")
        if self.mode == "panorama" and not self.panoramas_dir:
            raise SpecError("background.panoramas_dir", "required when background.mode = 'panorama'")


@dataclass(frozen=True)
class LightingSpec:
    """A sun plus a uniform world light."""

    sun_strength: tuple[float, float] = _f((2.0, 5.0), lo=0.0, hi=100.0, ordered=True, doc="W/m^2")
    sun_elevation: tuple[float, float] = _f((25.0, 80.0), lo=0.0, hi=90.0, ordered=True, doc="degrees")
    ambient: tuple[float, float] = _f((0.3, 0.9), lo=0.0, hi=10.0, ordered=True, doc="world strength")
    color_temperature: tuple[float, float] = _f(
        (4000.0, 7500.0), lo=1000.0, hi=20000.0, ordered=True, doc="sun colour temperature, K"
    )


@dataclass(frozen=True)
class SplitSpec:
    """Identity splits (thesis: 100 test, 100 validation, the rest train)."""

    test: int = _f(100, lo=0)
    val: int = _f(100, lo=0)


@dataclass(frozen=True)
class DatasetSpec:
    """A whole dataset: counts, seed and the sections above."""

    name: str = _f("dataset", doc="dataset name: letters, digits, '.', '_', '-' (also its folder name)")
    seed: int = _f(0, lo=0, hi=2**63 - 1, doc="seeds every random choice of the dataset")
    characters: int = _f(10, lo=1, hi=10_000_000, doc="number of people (identities)")
    images_per_character: int = _f(10, lo=1, hi=10_000, doc="images rendered of each person")
    camera: CameraSpec = field(default_factory=CameraSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    render: RenderSpec = field(default_factory=RenderSpec)
    people: PeopleSpec = field(default_factory=PeopleSpec)
    appearance: AppearanceSpec = field(default_factory=AppearanceSpec)
    background: BackgroundSpec = field(default_factory=BackgroundSpec)
    lighting: LightingSpec = field(default_factory=LightingSpec)
    splits: SplitSpec = field(default_factory=SplitSpec)

    def __post_init__(self):
        from synthreid.dataset import DATASET_NAME_RE

        if not DATASET_NAME_RE.match(self.name) or ".." in self.name:
            raise SpecError(
                "name",
                f"{self.name!r}: expected 1-128 letters, digits, '.', '_' or '-' "
                "starting with a letter or digit",
            )
        a = self.appearance
        for key in ("tops", "bottoms"):
            if not getattr(a, key):
                raise SpecError(f"appearance.{key}", "must list at least one garment type")
        if not a.textures:
            raise SpecError("appearance.textures", "must list at least one texture (e.g. 'plain')")
        if not a.hair:
            raise SpecError("appearance.hair", "must list at least one style (use ['bald'] for none)")

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, source: str = "spec") -> DatasetSpec:
        return _build(cls, data, "")

    @classmethod
    def from_toml(cls, path: str | Path) -> DatasetSpec:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise SpecError("", f"{path}: cannot read spec ({exc.strerror})") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError("", f"{path}: invalid TOML ({exc})") from exc
        spec = cls.from_dict(data)
        return spec.resolve_paths(path.parent)

    @classmethod
    def preset(cls, name: str) -> DatasetSpec:
        path = PRESET_DIR / f"{name}.toml"
        if not path.is_file():
            raise SpecError("preset", f"unknown preset {name!r}; available: {', '.join(preset_names())}")
        return cls.from_toml(path)

    @classmethod
    def load(cls, spec_or_preset: str) -> DatasetSpec:
        """A TOML path, or a preset name when no such file exists."""
        p = Path(spec_or_preset)
        if p.suffix == ".toml" or p.exists():
            return cls.from_toml(p)
        return cls.preset(spec_or_preset)

    def resolve_paths(self, base: Path) -> DatasetSpec:
        """Make relative folder paths absolute against the spec file's folder."""
        bg, ppl, app = self.background, self.people, self.appearance
        if app.from_images and not Path(app.from_images).is_absolute():
            app = dataclasses.replace(app, from_images=str((base / app.from_images).resolve()))
        if bg.images_dir and not Path(bg.images_dir).is_absolute():
            bg = dataclasses.replace(bg, images_dir=str((base / bg.images_dir).resolve()))
        if bg.panoramas_dir and not Path(bg.panoramas_dir).is_absolute():
            bg = dataclasses.replace(bg, panoramas_dir=str((base / bg.panoramas_dir).resolve()))
        if ppl.motion_dir and not Path(ppl.motion_dir).is_absolute():
            ppl = dataclasses.replace(ppl, motion_dir=str((base / ppl.motion_dir).resolve()))
        if ppl.meshes_dir and not Path(ppl.meshes_dir).is_absolute():
            ppl = dataclasses.replace(ppl, meshes_dir=str((base / ppl.meshes_dir).resolve()))
        return dataclasses.replace(self, background=bg, people=ppl, appearance=app)

    def replace(self, **changes) -> DatasetSpec:
        """A copy with top-level fields changed, validated again."""
        data = self.to_dict()
        data.update(changes)
        return DatasetSpec.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def total_images(self) -> int:
        return self.characters * self.images_per_character


def override_counts(
    spec: DatasetSpec, characters: int | None, images: int | None, name: str | None = None, **sections
) -> DatasetSpec:
    """A copy of ``spec`` with command-line overrides applied (validated like the TOML)."""
    data = spec.to_dict()
    if characters is not None:
        data["characters"] = characters
    if images is not None:
        data["images_per_character"] = images
    if name is not None:
        data["name"] = name
    for section, values in sections.items():
        if values:
            data[section] = {**data[section], **values}
    return DatasetSpec.from_dict(data)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


# ---- validation -------------------------------------------------------------------------
def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _build(cls, data, prefix: str):
    if not isinstance(data, dict):
        raise SpecError(prefix.rstrip(".") or "spec", f"expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{prefix}{unknown[0]}"
        close = difflib.get_close_matches(unknown[0], fields, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SpecError(key, f"unknown key; {hint}allowed keys here: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            continue
        path = f"{prefix}{name}"
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, data[name], path + ".")
        else:
            kwargs[name] = _coerce(data[name], tp, f.metadata, path)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the unknown-key check
        raise SpecError(prefix.rstrip(".") or "spec", str(exc)) from exc


def _check_number(v, meta, path, kind):
    lo, hi = meta.get("lo"), meta.get("hi")
    if meta.get("positive") and v <= 0:
        raise SpecError(path, f"must be > 0, got {v}")
    if lo is not None and v < lo:
        raise SpecError(path, f"must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise SpecError(path, f"must be <= {hi}, got {v}")
    return v


def _scalar(v, tp, meta, path):
    if tp is bool:
        if not isinstance(v, bool):
            raise SpecError(path, f"expected true/false, got {v!r}")
        return v
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise SpecError(path, f"expected an integer, got {v!r}")
        return _check_number(v, meta, path, int)
    if tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(path, f"expected a number, got {v!r}")
        return _check_number(float(v), meta, path, float)
    if tp is str:
        if not isinstance(v, str):
            raise SpecError(path, f"expected a string, got {v!r}")
        choices = meta.get("choices")
        if choices and v not in choices:
            raise SpecError(path, f"{v!r} is not one of: {', '.join(choices)}")
        return v
    raise SpecError(path, f"unsupported type {_type_name(tp)}")  # pragma: no cover


def _coerce(v, tp, meta, path):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if v is None or v == "":
            if type(None) in args:
                return None
        return _coerce(v, non_none[0], meta, path)
    if origin is Literal:  # pragma: no cover - not used, kept for completeness
        if v not in args:
            raise SpecError(path, f"{v!r} is not one of {args}")
        return v
    if origin is tuple:
        if not isinstance(v, (list, tuple)):
            raise SpecError(path, f"expected a list, got {v!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            items = tuple(_scalar(x, args[0], meta, f"{path}[{i}]") for i, x in enumerate(v))
            if len(set(items)) != len(items):
                raise SpecError(path, "contains duplicates")
            return items
        if len(v) != len(args):
            raise SpecError(path, f"expected {len(args)} values, got {len(v)}")
        items = tuple(
            _scalar(x, a, meta, f"{path}[{i}]") for i, (x, a) in enumerate(zip(v, args, strict=True))
        )
        if meta.get("ordered") and items[0] > items[1]:
            raise SpecError(path, f"first value must not exceed the second, got {list(items)}")
        return items
    return _scalar(v, tp, meta, path)


def spec_reference() -> str:
    """Markdown reference of every spec field: type, default, allowed values, meaning."""
    lines = [
        "# Dataset spec reference",
        "",
        "Generated by `synthreid spec --doc` from `synthreid/render/spec.py`; every field is optional.",
        "Units: metres, degrees, pixels, linear RGB in [0, 1].",
        "",
    ]

    def describe(cls, prefix):
        rows = []
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                continue
            m = f.metadata
            allowed = []
            if m.get("choices"):
                allowed.append("one of " + ", ".join(f"`{c}`" for c in m["choices"]))
            if m.get("lo") is not None:
                allowed.append(f">= {m['lo']}")
            if m.get("hi") is not None:
                allowed.append(f"<= {m['hi']}")
            if m.get("positive"):
                allowed.append("> 0")
            if m.get("ordered"):
                allowed.append("min <= max")
            default = f.default if f.default is not dataclasses.MISSING else None
            if isinstance(default, tuple):
                default = list(default)
            type_name = tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")
            rows.append(
                f"| `{prefix}{f.name}` | `{type_name}` | `{json.dumps(default)}` | "
                f"{'; '.join(allowed)} | {m.get('doc', '')} |"
            )
        return rows

    lines += ["## Top level", "", "| field | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    lines += describe(DatasetSpec, "")
    for f in dataclasses.fields(DatasetSpec):
        tp = typing.get_type_hints(DatasetSpec)[f.name]
        if dataclasses.is_dataclass(tp):
            doc = (tp.__doc__ or "").strip().splitlines()
            lines += [
                "",
                f"## [{f.name}]",
                "",
                " ".join(d.strip() for d in doc),
                "",
                "| field | type | default | allowed | meaning |",
                "|---|---|---|---|---|",
            ]
            lines += describe(tp, f"{f.name}.")
    return "\n".join(lines) + "\n"
