"""``synthreid stats``: attribute distributions of planned, rendered or real people, and their
total-variation distance to real labels (PETA format) or real crops (see ``render.stats``)."""

from __future__ import annotations

from pathlib import Path

from synthreid.cliutil import positive_int
from synthreid.errors import DatasetError, SpecError

DESCRIPTION = (
    "Per attribute family (upper/lower clothing colour, upper/lower garment type, sleeves, sex, age band, "
    "hair length, bags, hats) the distribution of the people of SOURCE, and with --against its total-variation "
    "distance (TVD, 0 = same, 1 = disjoint) to real people. SOURCE is a spec TOML (or --preset NAME), planned "
    "in memory without writing anything; a planned or rendered dataset folder (its labels.jsonl); or a folder "
    "of crops (colours from pixels). Colour names are PETA's eleven, from one mapping "
    "(synthreid/render/colournames.py); colours from pixels use rows 20-50 % (upper) and 55-85 % (lower) of "
    "the crop height in the centre 35-65 % of its width, inside the mask for renders; real crops are "
    "white-balanced on their left and right borders first."
)


def _ours(args):
    from synthreid.render import stats
    from synthreid.render.spec import DatasetSpec

    progress = not args.quiet
    if bool(args.source) == bool(args.preset):
        raise SpecError(
            "source",
            "give exactly one of SOURCE (spec TOML, dataset folder or folder of crops) or --preset NAME",
        )
    if args.preset or Path(args.source).suffix == ".toml":
        spec = DatasetSpec.preset(args.preset) if args.preset else DatasetSpec.from_toml(args.source)
        return stats.planned_distributions(spec, args.characters, progress=progress)
    src = Path(args.source)
    if args.characters is not None:
        raise SpecError("--characters", "only with a spec TOML or --preset (a dataset has its own people)")
    if (src / "manifest.json").is_file():
        ours = stats.dataset_distributions(src)
        if args.pixels:
            measured = stats.rendered_crop_distributions(src, progress=progress)
            ours = stats.merge(ours, measured, f"{ours.label}; colours from pixels inside the masks")
        return ours
    if args.pixels:
        raise SpecError("--pixels", f"{src}: not a dataset folder (no manifest.json)")
    if src.is_dir():
        return stats.folder_crop_distributions(src, progress=progress)
    raise DatasetError(f"{src}: not a spec TOML, a dataset folder or a folder of crops")


def cmd_stats(args) -> int:
    from synthreid.render import stats

    ours = _ours(args)
    real = stats.load_against(args.against, progress=not args.quiet) if args.against else None
    comparisons = stats.compare(ours, real)
    if real is not None and not any(c.tvd is not None for c in comparisons):
        raise DatasetError(f"{args.against}: shares no attribute family with {ours.label}")
    print(stats.format_table(comparisons, ours.label, real.label if real else None), end="")
    if args.out:
        for path in stats.write_report(args.out, comparisons, ours, real):
            print(f"wrote {path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "stats",
        help="attribute distributions of planned/rendered people vs real labels or crops",
        description=DESCRIPTION,
    )
    p.add_argument(
        "source", nargs="?", help="a spec TOML, a planned or rendered dataset folder, or a folder of crops"
    )
    p.add_argument(
        "--preset", help="a built-in preset instead of SOURCE (`synthreid spec --list` shows them)"
    )
    p.add_argument(
        "--characters",
        type=positive_int,
        help="with a spec or preset: how many people to plan (default: the spec's characters)",
    )
    p.add_argument(
        "--against",
        metavar="LABELS|DIR",
        help="real people to compare with: PETA label files (a .txt or a folder of them) or a "
        "folder of real crops (colour families only)",
    )
    p.add_argument(
        "--pixels",
        action="store_true",
        help="with a rendered dataset: measure the clothing colours from the image pixels inside "
        "the masks instead of the planned colours",
    )
    p.add_argument(
        "--out", metavar="DIR", help="also write stats.txt, stats.json and stats.png (bar charts) here"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_stats)
