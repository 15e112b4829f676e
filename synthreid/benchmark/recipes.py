"""Named training recipes (presets of ``TrainConfig`` fields) and the learning-rate schedules.

- ``thesis``: Open-ReID InceptionNet + softmax, SGD, step schedule: every default of
  ``TrainConfig`` (the Lund thesis's setting), unchanged.
- ``fast``: a CPU-fast, strong recipe for small synthetic sets (a few thousand images on 2 cores):
  OSNet x0.25 from scratch at 128x64, BN-neck, label smoothing, AdamW with linear warm-up +
  cosine decay, random erasing and colour jitter, images pre-decoded in memory and augmented
  in batches (no loader processes), channels-last, one torch thread (a network this small ran
  14x slower on 2 threads than on 1 here: run one process per core instead). Measurements behind
  each choice: docs/benchmark.md.

A recipe sets defaults only: :func:`apply` lets every explicitly given field win.
"""

from __future__ import annotations

import math

from synthreid.errors import SynthreidError

RECIPES: dict[str, dict] = {
    "thesis": {},
    "fast": {
        "arch": "osnet_x0_25",
        "height": 128,
        "width": 64,
        "neck": "bn",
        "num_features": 0,
        "dropout": 0.0,
        "loss": "ls",
        "label_smoothing": 0.1,
        "optimizer": "adamw",
        "lr": 3e-3,
        "weight_decay": 5e-4,
        "schedule": "cosine",
        "warmup_epochs": 3,
        "epochs": 30,
        "batch_size": 64,
        "random_erasing": 0.5,
        "color_jitter": 0.2,
        "in_memory": True,
        "workers": 0,
        "cpu_channels_last": True,
        "threads": 1,
    },
}

SCHEDULES = ("step", "cosine")
OPTIMIZERS = ("sgd", "adam", "adamw")
WARMUP_START = 0.01  # lr fraction of the first warm-up epoch


def names() -> list[str]:
    return sorted(RECIPES)


def apply(name: str, fields: dict) -> dict:
    """TrainConfig keyword arguments: recipe ``name``'s values, then ``fields`` (which win), and
    ``recipe=name``. SynthreidError for an unknown recipe."""
    if name not in RECIPES:
        raise SynthreidError(f"config: unknown recipe {name!r}; valid: {', '.join(names())}")
    return {**RECIPES[name], **fields, "recipe": name}


def lr_factor(
    epoch: int,
    epochs: int,
    schedule: str = "step",
    warmup_epochs: int = 0,
    step_size: int = 40,
    gamma: float = 0.1,
) -> float:
    """Multiplier of the base learning rate during 0-based ``epoch`` of ``epochs``.

    Warm-up (both schedules): linear from WARMUP_START at epoch 0 to 1 at epoch ``warmup_epochs``.
    ``step``: ``gamma ** (epoch // step_size)`` (Open-ReID). ``cosine``: after warm-up,
    0.5 (1 + cos(pi t)) with t = (epoch - warmup) / (epochs - warmup) in [0, 1): 1 at the first
    epoch after warm-up, near 0 at the last.
    """
    if epoch < warmup_epochs:
        return WARMUP_START + (1 - WARMUP_START) * epoch / warmup_epochs
    if schedule == "step":
        return gamma ** (epoch // step_size)
    if schedule == "cosine":
        t = (epoch - warmup_epochs) / max(1, epochs - warmup_epochs)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    raise SynthreidError(f"config: unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
