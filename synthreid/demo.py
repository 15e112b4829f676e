"""``synthreid demo``: the whole loop at toy size on CPU, through the real commands.

1. render a small source dataset (preset IV look);
2. render a differently-styled *stand-in* for a real target domain (realistic palette, other
   rooms and light) and give it a simulated camera look (colour cast, blur, sensor noise,
   lower contrast) — it is NOT real data, only a domain with a known, visible gap;
3. train a CycleGAN refiner briefly between them and apply it (a refined dataset);
4. train the re-ID benchmark on the source and on the refined dataset, test both on the
   stand-in target (thesis protocol), and write a report table and CMC plot.

Every step is a ``synthreid`` command; the demo prints each so it can be re-run by hand.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from synthreid.dataset import Dataset, write_manifest
from synthreid.errors import SynthreidError
from synthreid.fsutil import atomic_path

STAND_IN_NOTE = (
    "NOTE: the target domain here is a stand-in rendered by synthreid with a simulated camera "
    "look, not real data. The numbers show the pipeline works end to end; they say nothing "
    "about transfer to real cameras."
)


def _run(argv: list[str]) -> None:
    from synthreid.cli import main

    print(f"\n$ synthreid {shlex.join(argv)}", flush=True)
    t = time.perf_counter()
    rc = main(argv)
    if rc != 0:
        raise SynthreidError(f"demo step failed (exit {rc}): synthreid {shlex.join(argv)}")
    print(f"  ({time.perf_counter() - t:.1f} s)", flush=True)


def camera_look(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A fixed 'target camera' look: warm cast, lower contrast, slight blur, sensor noise."""
    a = np.asarray(img.filter(ImageFilter.GaussianBlur(0.7)), dtype=np.float32) / 255.0
    a = 0.15 + 0.7 * a  # lifted blacks, compressed highlights
    a *= np.array([1.08, 1.0, 0.82], dtype=np.float32)  # warm, slightly green-less sodium-ish cast
    a += rng.normal(0.0, 0.025, a.shape).astype(np.float32)
    return Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8))


def make_target(rendered: Path, out: Path, seed: int = 0) -> Path:
    """Copy a rendered dataset into ``out`` with the camera look applied (kind 'imported')."""
    src = Dataset(rendered)
    if out.exists():
        shutil.rmtree(out)
    rng = np.random.default_rng(seed)
    for rec in src.records(require_mask=True):
        with Image.open(src.root / rec.image) as im:
            looked = camera_look(im.convert("RGB"), rng)
        dst = out / rec.image
        dst.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dst) as tmp:
            looked.save(tmp, "PNG")
        (out / "masks").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src.root / rec.mask, out / rec.mask)
    shutil.copyfile(src.root / "labels.jsonl", out / "labels.jsonl")
    manifest = {k: v for k, v in src.manifest.items() if k not in ("format", "format_version")}
    manifest.update(name=out.name, kind="imported", note="stand-in target domain made by synthreid demo")
    # A target domain is test data only: every identity is a test identity.
    pids = sorted({r.pid for r in src.records()})
    manifest["splits"] = {"train": [], "val": [], "test": pids}
    write_manifest(out, manifest)
    return out


def cmd_demo(args) -> int:
    out = Path(args.out).resolve()
    if args.target:
        from synthreid.study.targets import find_images

        find_images(args.target)  # a missing or image-less folder fails before any rendering
    out.mkdir(parents=True, exist_ok=True)
    print(STAND_IN_NOTE)
    size = "32x64"  # WIDTHxHEIGHT, for render and refine alike
    common = [
        "--characters",
        str(args.characters),
        "--images",
        str(args.images),
        "--size",
        size,
        "--samples",
        str(args.samples),
    ]
    source, target_render = out / "source", out / "target-render"
    _run(
        [
            "render",
            "--preset",
            "IV",
            "--name",
            "demo-source",
            "--out",
            str(source),
            "--quiet",
            "--sheet",
            str(out / "source-sheet.png"),
            *common,
        ]
    )
    _run(
        [
            "render",
            "--preset",
            "IV-realistic",
            "--name",
            "demo-target",
            "--out",
            str(target_render),
            "--quiet",
            *common,
        ]
    )
    target = make_target(target_render, out / "target", seed=1)
    print(f"  target stand-in with a simulated camera look: {target}")
    refine_target = target / "images"
    if args.target:
        from synthreid.study.targets import find_images, flat_image_folder

        # the refiner learns your camera domain; re-ID is still tested on the labelled stand-in
        refine_target = flat_image_folder(args.target, out / "target-crops")
        print(
            f"  refiner target: {len(find_images(args.target))} real crops under {Path(args.target).resolve()} "
            "(the re-ID test set stays the stand-in: crops without identity labels cannot score re-ID)"
        )
    refiner = out / "runs" / "refiner"
    _run(
        [
            "refine",
            "train",
            "--source",
            str(source),
            "--target",
            str(refine_target),
            "--model",
            "cyclegan",
            "--size",
            size,
            "--iters",
            str(args.iters),
            "--generator",
            "resnet_6blocks",
            "--ngf",
            "16",
            "--ndf",
            "16",
            "--workers",
            "0",
            "--sample-every",
            str(max(1, args.iters // 2)),
            "--checkpoint-every",
            str(max(1, args.iters // 2)),
            "--out",
            str(refiner),
            "--device",
            "cpu",
        ]
    )
    refined = out / "refined"
    _run(
        [
            "refine",
            "apply",
            str(refiner),
            "--source",
            str(source),
            "--name",
            "demo-refined",
            "--out",
            str(refined),
            "--workers",
            "0",
            "--device",
            "cpu",
        ]
    )
    runs = []
    for name, ds in (("source", source), ("refined", refined)):
        run = out / "runs" / f"reid-{name}"
        _run(
            [
                "benchmark",
                "train",
                "--train",
                str(ds),
                "--val",
                str(ds),
                "--test",
                str(target),
                "--protocol",
                "thesis",
                "--arch",
                args.arch,
                "--epochs",
                str(args.epochs),
                "--batch-size",
                "32",
                "--lr",
                "0.05",
                "--workers",
                "0",
                "--device",
                "cpu",
                "--quiet",
                "--out",
                str(run),
            ]
        )
        runs.append(str(run))
    _run(["benchmark", "report", *runs, "--out", str(out / "report")])
    print(f"\nDemo finished in {out}:")
    for p in sorted((out / "report").glob("*")):
        print(f"  {p}")
    table = out / "report" / "report.md"
    if table.is_file():
        print("\n" + table.read_text())
    print(STAND_IN_NOTE)
    (out / "demo.json").write_text(json.dumps({"runs": runs, "note": STAND_IN_NOTE}, indent=2))
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="tiny end-to-end run on CPU: render, refine, benchmark, report",
        description="Render a source and a stand-in target domain, train and apply a "
        "refiner, train re-ID on both, and write a report; every step is a "
        "synthreid command, printed so it can be re-run by hand.",
    )
    p.add_argument("--out", default="synthreid-demo", help="folder for everything the demo makes")
    p.add_argument("--characters", type=int, default=30, help="identities in each rendered dataset")
    p.add_argument("--images", type=int, default=4, help="images per identity")
    p.add_argument("--samples", type=int, default=8, help="Cycles samples per pixel")
    p.add_argument("--iters", type=int, default=200, help="refiner generator updates")
    p.add_argument("--epochs", type=int, default=8, help="re-ID training epochs per run")
    p.add_argument(
        "--arch", default="inception", help="re-ID network (inception; tiny for a faster smoke run)"
    )
    p.add_argument(
        "--target",
        metavar="DIR",
        help="a folder of your real camera crops (searched recursively) as the "
        "refiner's target domain; default: the rendered stand-in",
    )
    p.set_defaults(func=cmd_demo)
