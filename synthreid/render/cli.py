"""Local render commands: ``render``, ``plan``, ``preview`` (no catalog, no servers)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from synthreid.errors import SpecError


def _size(text: str) -> list[int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 64x128, got {text!r}") from None
    return [w, h]


def _load_spec(args):
    from synthreid.render.local import override_counts
    from synthreid.render.spec import DatasetSpec

    if bool(args.spec) == bool(args.preset):
        raise SpecError("spec", "give exactly one of SPEC (a TOML file) or --preset NAME")
    spec = DatasetSpec.from_toml(args.spec) if args.spec else DatasetSpec.preset(args.preset)
    output = {"size": args.size} if getattr(args, "size", None) else {}
    render = {"samples": args.samples} if getattr(args, "samples", None) else {}
    return override_counts(spec, args.characters, args.images, args.name, output=output, render=render)


def _out_dir(args, spec) -> Path:
    from synthreid.paths import dataset_dir

    return Path(args.out) if args.out else dataset_dir(spec.name)


def cmd_render(args) -> int:
    from synthreid.render.local import render_dataset
    from synthreid.render.preview import contact_sheet

    spec = _load_spec(args)
    out = _out_dir(args, spec)
    report = render_dataset(spec, out, workers=args.workers, progress=not args.quiet)
    print(f"{report.root}: rendered {report.rendered}, skipped {report.skipped} already done, "
          f"failed {len(report.failed)} in {report.seconds:.1f} s")
    if args.sheet and (report.rendered or report.skipped):
        sheet = contact_sheet(out, args.sheet)
        print(f"contact sheet: {sheet}")
    return 1 if report.failed else 0


def cmd_plan(args) -> int:
    from synthreid.render.output import init_dataset

    spec = _load_spec(args)
    out = _out_dir(args, spec)
    init_dataset(spec, out)
    print(f"{out}: planned {spec.characters} characters x {spec.images_per_character} images "
          f"(manifest.json, labels.jsonl); nothing rendered")
    return 0


def cmd_preview(args) -> int:
    from synthreid.render.preview import contact_sheet

    w, h = args.cell
    out = contact_sheet(args.dataset, args.out, count=args.count, columns=args.columns, cell=(w, h),
                        seed=args.seed)
    print(f"contact sheet: {out}")
    return 0


def cmd_spec(args) -> int:
    from synthreid.render.spec import DatasetSpec, preset_names, spec_reference

    if args.doc:
        print(spec_reference(), end="")
        return 0
    if args.list:
        print("\n".join(preset_names()))
        return 0
    spec = DatasetSpec.load(args.spec_or_preset)
    print(json.dumps(spec.to_dict(), indent=2))
    return 0


def _spec_args(p: argparse.ArgumentParser, with_render: bool = True) -> None:
    p.add_argument("spec", nargs="?", help="dataset spec (TOML)")
    p.add_argument("--preset", help="a built-in preset: I, II, III, IV, IV-realistic")
    p.add_argument("--characters", type=int, help="override the number of characters")
    p.add_argument("--images", type=int, help="override images per character")
    p.add_argument("--name", help="override the dataset name")
    p.add_argument("--out", help="dataset folder (default: $SYNTHREID_DATA_DIR/datasets/NAME)")
    if with_render:
        p.add_argument("--size", type=_size, help="fixed output size WIDTHxHEIGHT, e.g. 64x128")
        p.add_argument("--samples", type=int, help="override Cycles samples per pixel")


def register(sub) -> None:
    p = sub.add_parser("render", help="render a dataset locally (resumes; skips finished images)")
    _spec_args(p)
    p.add_argument("--workers", type=int, help="Blender worker processes (default: CPU cores)")
    p.add_argument("--sheet", help="also write a contact sheet PNG here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("plan", help="write manifest and every image's sampled parameters, render nothing")
    _spec_args(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("preview", help="write a contact sheet PNG of a dataset")
    p.add_argument("dataset", help="dataset folder")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--count", type=int, default=48)
    p.add_argument("--columns", type=int, default=12)
    p.add_argument("--cell", type=_size, default=[64, 128], help="cell size WIDTHxHEIGHT")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("spec", help="print a spec or preset as resolved JSON; --list shows presets")
    p.add_argument("spec_or_preset", nargs="?", default="IV")
    p.add_argument("--list", action="store_true")
    p.add_argument("--doc", action="store_true", help="print the Markdown reference of every spec field")
    p.set_defaults(func=cmd_spec)
