"""Refiner evaluation on a fixed held-out set, written at each checkpoint.

Two weight-free numbers say whether G_AB moved the renders toward the target camera while
keeping the person:

identity_l1
    mean |G(a) - a| over the person mask of each held-out render a, in [0, 1] pixel units
    (0: the person is untouched; mean per masked pixel and channel, masks not feathered).
domain_gap
    distance between the colour statistics of the translated renders and of the target
    images: each set is summarised by the mean and standard deviation of L*, a*, b* (CIELAB,
    D65, L* in 0..100) over all its pixels, and the gap is the Euclidean distance between the
    two 6-vectors. ``domain_gap_source`` is the same for the untranslated renders, so
    ``domain_gap_reduction`` = 1 - domain_gap / domain_gap_source > 0 means the refiner closed
    part of the colour gap (mean/std in Lab are the statistics of Reinhard-style colour
    transfer: cheap, global, blind to texture).

Held-out set: ``config.eval_images`` renders spread evenly over the source (at most a quarter
of it) are removed from training; the target images are not held out (only their
distribution matters), ``eval_images`` of them spread evenly.

Run folder files: ``eval.csv`` / ``eval.png`` (one row per checkpoint, plus iteration 0) and
``metrics.json`` (progress, speed, final and averaged losses, latest evaluation).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from synthreid.fsutil import write_json, write_text
from synthreid.plots import pyplot, save_png

EVAL_FIELDS = ("iter", "identity_l1", "domain_gap", "domain_gap_source", "domain_gap_reduction")
AVG_ROWS = 50  # losses_avg: mean over this many last logged rows of losses.csv

# sRGB (D65) -> XYZ, and the D65 white point.
_RGB2XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883])


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) sRGB in [-1, 1] -> (N, 3, H, W) CIELAB (L* 0..100, a*, b* about -128..127)."""
    rgb = (x.float().clamp(-1, 1) + 1.0) / 2.0
    lin = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum("ij,njhw->nihw", _RGB2XYZ.to(x.device), lin) / _WHITE.to(x.device)[None, :, None, None]
    eps = (6 / 29) ** 3
    f = torch.where(xyz > eps, xyz.clamp_min(eps) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def colour_stats(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] -> (6,) mean and std of L*, a*, b* over every pixel of the set."""
    lab = rgb_to_lab(images).transpose(0, 1).reshape(3, -1)
    return torch.cat([lab.mean(1), lab.std(1, unbiased=False)])


def domain_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Euclidean distance between the ``colour_stats`` of two image sets (Lab units)."""
    return float(torch.linalg.vector_norm(colour_stats(a) - colour_stats(b)))


def identity_l1(translated: torch.Tensor, original: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean |G(a) - a| / 2 inside the mask: [0, 1] pixel units; NaN for empty masks."""
    m = mask.float()
    area = float(m.sum()) * original.shape[1]
    if area == 0:
        return float("nan")
    return float(((translated.float() - original.float()).abs() * m).sum()) / area / 2.0


def holdout(pairs: list, n: int) -> tuple[list, list]:
    """(training pairs, held-out pairs): min(n, len // 4) items spread evenly are held out."""
    k = min(int(n), len(pairs) // 4)
    if k <= 0:
        return list(pairs), []
    idx = set(np.linspace(0, len(pairs) - 1, num=k).round().astype(int).tolist())
    return [p for i, p in enumerate(pairs) if i not in idx], [pairs[i] for i in sorted(idx)]


@dataclass
class EvalSet:
    """Held-out renders ``a`` (N, 3, H, W) in [-1, 1], their masks (N, 1, H, W) in [0, 1], and
    target images ``b`` (M, 3, H, W); the untranslated gap is computed once."""

    a: torch.Tensor
    mask_a: torch.Tensor
    b: torch.Tensor

    def __post_init__(self):
        self.gap_source = domain_gap(self.a, self.b)


def evaluate(translate, evalset: EvalSet, batch_size: int = 16) -> dict[str, float]:
    """Scores of ``translate`` ((N, 3, H, W) -> same, the A->B generator) on ``evalset``."""
    out = torch.cat(
        [translate(evalset.a[i : i + batch_size]).float().cpu() for i in range(0, len(evalset.a), batch_size)]
    )
    gap = domain_gap(out, evalset.b)
    src = evalset.gap_source
    return {
        "identity_l1": identity_l1(out, evalset.a, evalset.mask_a),
        "domain_gap": gap,
        "domain_gap_source": src,
        "domain_gap_reduction": 1.0 - gap / src if src > 0 else 0.0,
    }


def read_rows(path: Path, upto: int) -> list[dict]:
    """Rows of a CSV log as numbers, those with iter <= ``upto`` (a resumed run drops the rest)."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        rows = [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(fh)]
    for r in rows:
        r["iter"] = int(r["iter"])
    return [r for r in rows if r["iter"] <= upto]


def write_eval(run_dir: Path, rows: list[dict]) -> None:
    """``eval.csv`` and ``eval.png`` (identity L1 and domain gap against the iteration)."""
    if not rows:
        return
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=EVAL_FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    write_text(run_dir / "eval.csv", buf.getvalue())
    plot_eval(rows, run_dir / "eval.png")


def plot_eval(rows: list[dict], path: Path) -> None:
    plt = pyplot()

    its = [r["iter"] for r in rows]
    fig, (ax_i, ax_g) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_i.plot(its, [r["identity_l1"] for r in rows], marker="o", linewidth=1)
    ax_i.set_title("identity: mean |G(a) - a| on the person (0..1)")
    ax_g.plot(its, [r["domain_gap"] for r in rows], marker="o", linewidth=1, label="translated vs target")
    ax_g.axhline(rows[-1]["domain_gap_source"], color="grey", linestyle="--", label="untranslated vs target")
    ax_g.set_title("domain gap: Lab mean/std distance")
    ax_g.legend(fontsize=7)
    for ax in (ax_i, ax_g):
        ax.set_xlabel("iteration")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_png(fig, path, dpi=90)


def _finite(d: dict) -> dict:
    """JSON has no NaN/inf: such values become None."""
    return {k: (v if isinstance(v, (int, float)) and math.isfinite(v) else None) for k, v in d.items()}


def write_metrics(
    run_dir: Path,
    *,
    iteration: int,
    iters_total: int,
    wall_seconds: float,
    loss_rows: list[dict],
    eval_row: dict | None,
    n_eval: tuple[int, int],
) -> dict:
    """Write ``metrics.json`` atomically and return it.

    ``losses``: the last logged row of losses.csv (the row the farm also reads);
    ``losses_avg``: each term's mean over the last AVG_ROWS logged rows; ``eval``: the latest
    evaluation (None when disabled).
    """
    skip = ("iter", "lr", "sec_per_iter")
    last = {k: v for k, v in loss_rows[-1].items() if k not in skip} if loss_rows else {}
    recent = loss_rows[-AVG_ROWS:]
    avg = {k: float(np.mean([r[k] for r in recent if k in r])) for k in last}
    wall_seconds = round(float(wall_seconds), 3)
    metrics = {
        "iteration": int(iteration),
        "iters_total": int(iters_total),
        "wall_seconds": wall_seconds,
        "iters_per_second": iteration / wall_seconds if wall_seconds > 0 else None,
        "losses": _finite(last),
        "losses_avg": _finite(avg),
        "losses_avg_rows": len(recent),
        "eval": _finite({k: v for k, v in eval_row.items() if k != "iter"}) if eval_row else None,
        "eval_images": {"source": n_eval[0], "target": n_eval[1]},
    }
    write_json(run_dir / "metrics.json", metrics)
    return metrics
