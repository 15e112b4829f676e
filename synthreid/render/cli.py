"""Dataset commands without the farm: ``plan``, ``rerender``, ``preview``, ``verify``, ``spec``.

``synthreid render`` (the farm embedded in one command) is ``synthreid.workers.render_cli``; it
shares ``load_spec`` and ``spec_args`` from here."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from synthreid.cliutil import parse_size as _size  # the one WIDTHxHEIGHT parser of the CLI
from synthreid.errors import SpecError


def load_spec(args):
    from synthreid.render.spec import DatasetSpec, override_counts

    manifest = Path(args.out) / "manifest.json" if args.out else None
    if not args.spec and not args.preset and manifest is not None and manifest.is_file():
        # `render --out DATASET` continues a dataset with the spec it was made from.
        try:
            spec = DatasetSpec.from_dict(json.loads(manifest.read_text())["spec"], source=str(manifest))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SpecError(
                "spec", f"{manifest}: no readable spec to resume from ({exc}); give SPEC or --preset"
            ) from None
    elif bool(args.spec) == bool(args.preset):
        raise SpecError(
            "spec",
            "give exactly one of SPEC (a TOML file) or --preset NAME "
            "(or only --out DATASET to continue an existing dataset)",
        )
    else:
        spec = DatasetSpec.from_toml(args.spec) if args.spec else DatasetSpec.preset(args.preset)
    output = {"size": args.size} if getattr(args, "size", None) else {}
    render = {"samples": args.samples} if getattr(args, "samples", None) else {}
    return override_counts(spec, args.characters, args.images, args.name, output=output, render=render)


def out_dir(args, spec) -> Path:
    from synthreid.paths import dataset_dir

    return Path(args.out) if args.out else dataset_dir(spec.name)


def cmd_plan(args) -> int:
    from synthreid.render.output import init_dataset

    spec = load_spec(args)
    out = out_dir(args, spec)
    init_dataset(spec, out)
    print(
        f"{out}: planned {spec.characters} characters x {spec.images_per_character} images "
        f"(manifest.json, labels.jsonl); nothing rendered"
    )
    return 0


def cmd_rerender(args) -> int:
    from synthreid.render.rerender import rerender

    report = rerender(args.dataset, args.stem, args.out)
    same = {None: "nothing recorded to compare with", True: "byte-identical to the recorded image"}
    print(
        f"{report.out / report.row['image']}: rendered from its stored plan; "
        + same.get(report.same, "DIFFERS from the recorded image")
    )
    return 0 if report.same is not False else 1


def cmd_verify(args) -> int:
    from synthreid.render.verify import fix_dataset, verify_dataset

    report = verify_dataset(args.dataset, progress=not args.quiet)
    for p in report.problems:
        print(p.message)
    n_other = sum(1 for p in report.problems if p.stem is None)
    print(
        f"verify {report.root}: {report.sound} of {report.planned} images sound, {len(report.damaged)} damaged, "
        f"{len(report.not_rendered)} not rendered yet, {n_other} other problem(s)"
    )
    if report.ok:
        return 0
    resume = (
        f"`synthreid render --out {report.root}` (a local dataset) or "
        f"`synthreid enqueue SPEC --name {report.spec.name} --resume` (a farm dataset)"
    )
    if args.fix:
        fixed = fix_dataset(report)
        print(
            f"fixed: removed the files of {len(fixed.removed_images)} damaged image(s), "
            f"{fixed.removed_temps} temp file(s)"
            + ("; rewrote labels.jsonl" if fixed.labels_rewritten else "")
        )
        for p in fixed.left:
            print(f"not fixed: {p.message}")
        if fixed.removed_images or report.not_rendered:
            print(f"render the missing images with {resume}")
    elif report.damaged or report.temps or report.labels_stale:
        print(f"run `synthreid verify {report.root} --fix` to remove the damaged files, then {resume}")
    elif report.not_rendered:
        print(f"render the missing images with {resume}")
    return 1


def cmd_preview(args) -> int:
    from synthreid.render.preview import contact_sheet

    w, h = args.cell
    out = contact_sheet(
        args.dataset, args.out, count=args.count, columns=args.columns, cell=(w, h), seed=args.seed
    )
    print(f"contact sheet: {out}")
    return 0


def cmd_spec(args) -> int:
    from synthreid.render.spec import DatasetSpec, preset_names, spec_reference

    if args.doc:
        print(spec_reference(), end="")
        return 0
    if args.list:
        names = preset_names()
        width = max(len(n) for n in names)
        for name in names:
            print(f"{name:<{width}}  {preset_description(name)}")
        return 0
    spec = DatasetSpec.load(args.spec_or_preset)
    print(json.dumps(spec.to_dict(), indent=2))
    return 0


def preset_description(name: str) -> str:
    """The one-line description of a built-in preset: its TOML's ``# description:`` comment."""
    from synthreid.render.spec import PRESET_DIR

    try:
        with open(PRESET_DIR / f"{name}.toml", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("# description:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "(no description)"


def spec_args(p: argparse.ArgumentParser, with_render: bool = True) -> None:
    p.add_argument(
        "spec",
        nargs="?",
        help="dataset spec (TOML); omit it with --out DATASET to continue "
        "that dataset with the spec in its manifest",
    )
    p.add_argument("--preset", help="a built-in preset instead of SPEC (`synthreid spec --list` shows them)")
    p.add_argument("--characters", type=int, help="override the number of characters")
    p.add_argument("--images", type=int, help="override images per character")
    p.add_argument("--name", help="override the dataset name")
    p.add_argument("--out", help="dataset folder (default: $SYNTHREID_DATA_DIR/datasets/NAME)")
    if with_render:
        p.add_argument("--size", type=_size, help="fixed output size WIDTHxHEIGHT, e.g. 64x128")
        p.add_argument("--samples", type=int, help="override Cycles samples per pixel")


def register(sub) -> None:
    p = sub.add_parser("plan", help="write manifest and every image's sampled parameters, render nothing")
    spec_args(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser(
        "rerender",
        help="render one image again from its stored plan",
        description="Render image STEM of DATASET again from the plan stored with it (meta row or "
        "labels.jsonl), never planning it again; reports whether the result is byte-identical to "
        "the recorded image (exit status 1 when it differs).",
    )
    p.add_argument("dataset", help="dataset folder (the one holding manifest.json)")
    p.add_argument("stem", help="image name without extension, e.g. 00003_c2_0001")
    p.add_argument("--out", help="folder to write images/, masks/, meta/ into (default: the dataset itself)")
    p.set_defaults(func=cmd_rerender)

    p = sub.add_parser("preview", help="write a contact sheet PNG of a dataset (skips damaged images)")
    p.add_argument("dataset", help="dataset folder")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--count", type=int, default=48, help="how many crops to show (default: %(default)s)")
    p.add_argument("--columns", type=int, default=12, help="crops per row (default: %(default)s)")
    p.add_argument(
        "--cell", type=_size, default=[64, 128], help="cell size WIDTHxHEIGHT in px (default: 64x128)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random choice of crops; another seed shows others (default: %(default)s)",
    )
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser(
        "verify",
        help="check every image and mask of a dataset against its label rows",
        description="Check every planned image of a rendered dataset: meta row readable, image "
        "and mask present, decodable, sha256 and size as recorded; labels.jsonl up "
        "to date; no leftover temp files. Prints what is wrong per file and a "
        "summary; exit status 1 when anything is wrong or not rendered yet.",
    )
    p.add_argument("dataset", help="dataset folder (the one holding manifest.json)")
    p.add_argument(
        "--fix",
        action="store_true",
        help="remove the files of damaged images and leftover temp files and rewrite labels.jsonl, "
        "so that the next `render` (or the farm's `enqueue --resume`) renders them again",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("spec", help="print a spec or preset as resolved JSON; --list shows presets")
    p.add_argument(
        "spec_or_preset",
        nargs="?",
        default="IV",
        help="a spec TOML file or a preset name (default: %(default)s)",
    )
    p.add_argument(
        "--list", action="store_true", help="list the built-in presets with a one-line description"
    )
    p.add_argument("--doc", action="store_true", help="print the Markdown reference of every spec field")
    p.set_defaults(func=cmd_spec)
