#!/usr/bin/env python3
"""Fit the appearance of the ``real`` preset to attribute labels in PETA's format.

    .venv/bin/python scripts/fit-appearance.py LABELS [--preset OUT.toml] [--targets OUT.json]

LABELS is a PETA label file or a folder of them (``../shared/real/peta-attributes``, or your own
labels of your own cameras). Without options it prints the fitted ``[people]`` and
``[appearance]`` tables. ``--preset`` writes a whole preset (the fixed settings of preset
``real`` plus the fitted tables), ``--targets`` the aggregate target frequencies per attribute
family (what ``tests/unit/render/test_stats.py`` holds the preset to). Only aggregate
frequencies are written, never per-person labels. Check the result with
``synthreid stats OUT.toml --characters 1000 --against LABELS``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from synthreid.errors import SynthreidError
from synthreid.fsutil import write_text
from synthreid.render.fit import fit_appearance, targets_json, toml_tables
from synthreid.render.peta import read_labels

HEADER = """\
# description: IV-realistic with people fitted to real attribute frequencies (PETA: colours, garments, sex, age, hair, bags, hats)
# Preset IV-realistic's scenes and cameras with an appearance fitted to the attribute labels of
# about 4,150 real people (PETA; aggregate frequencies only) by scripts/fit-appearance.py:
# clothing colours by PETA colour name (synthreid/render/colournames.py), garment types, sleeves,
# hair, age bands and sex, bags and hats. `synthreid stats --preset real --characters 1000
# --against ../shared/real/peta-attributes` shows the fit. Regenerate with
# `.venv/bin/python scripts/fit-appearance.py LABELS --preset synthreid/assets/presets/real.toml`.
name = "preset-real"
seed = 5
characters = 1500
images_per_character = 10

[camera]
distance = [7.0, 9.0]
polar = [55.0, 85.0]
camera_ids = 6

[output]
size = [64, 128]   # Market-1501-like crops; pass --size 128x256 for more detail
margin = 0.03

[background]
mode = "textured"

"""
FIXED_APPEARANCE = "texture_probability = 0.35\nglasses = 0.15\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("labels", help="a PETA label file or a folder of them")
    ap.add_argument("--preset", help="write a whole preset TOML here")
    ap.add_argument("--targets", help="write the target family frequencies (JSON) here")
    args = ap.parse_args(argv)
    try:
        labels = read_labels(args.labels)
        fit = fit_appearance(labels, f"{Path(args.labels).name} ({len(labels)} people)")
    except SynthreidError as exc:
        print(f"fit-appearance: error: {exc}", file=sys.stderr)
        return 2
    tables = toml_tables(fit)
    if args.preset:
        write_text(args.preset, HEADER + tables.rstrip("\n") + "\n" + FIXED_APPEARANCE)
        print(f"wrote {args.preset}")
    if args.targets:
        write_text(args.targets, json.dumps(targets_json(fit), indent=1) + "\n")
        print(f"wrote {args.targets}")
    if not args.preset and not args.targets:
        print(tables, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
