"""A benchmark run directory and its files (the layout of ``synthreid.runfolder``)::

    RUN/config.json             everything needed to repeat the run (datasets, arch, hyper-parameters, seed)
    RUN/state.json              progress (epochs), best epoch and score (rewritten each epoch)
    RUN/val_curve.csv           epoch, loss, train accuracy, validation score (area under the CMC), lr
    RUN/val_curve.png           the validation score and loss per epoch
    RUN/checkpoints/last.pt     checkpoint after the latest epoch (resume from here)
    RUN/checkpoints/best.pt     checkpoint of the epoch with the best validation score
    RUN/metrics.json            test results, one entry per test dataset/protocol
    RUN/cmc.csv                 rank, then one CMC column per test entry

All files are written atomically; a run interrupted at any point resumes from ``last.pt``. Runs
of older versions (``last.pt`` / ``best.pt`` at the top) are read and resumed too.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from synthreid.fsutil import atomic_path, write_text
from synthreid.plots import pyplot, save_png
from synthreid.runfolder import RunFolder, RunFolderError
from synthreid.weights import check_plain, load_weights

log = logging.getLogger(__name__)


# Config fields that may differ when resuming a run (everything else must match config.json).
RESUMABLE = {"epochs", "workers", "device", "threads", "test", "test_format", "draws"}


class RunError(RunFolderError):
    """A run directory or checkpoint is missing, corrupt or incompatible."""


def load_config(run_dir: str | Path) -> dict:
    try:
        return RunFolder(run_dir).read_config()
    except RunFolderError as exc:
        raise RunError(str(exc)) from None


def load_metrics(run_dir: str | Path) -> dict:
    try:
        return RunFolder(run_dir).read_metrics()
    except RunFolderError as exc:
        raise RunError(str(exc)) from None


def checkpoint_path(run_dir: str | Path, which: str = "best") -> Path:
    """The run's ``best`` or ``last`` checkpoint (current or older layout); RunError when absent."""
    try:
        return RunFolder(run_dir).require_checkpoint(which)
    except RunFolderError as exc:
        raise RunError(str(exc)) from None


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write ``state`` atomically; it must hold only weights-only types (see synthreid.weights)."""
    import torch

    check_plain(state, str(path))
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, required=("model",)) -> dict:
    """Load a checkpoint on CPU with torch's weights-only unpickler (nothing in the file runs);
    RunError naming the file when it is missing, corrupt, not pure weights or incomplete."""
    path = Path(path)
    state = load_weights(path, RunError, "checkpoint")
    if not isinstance(state, dict) or any(k not in state for k in required):
        raise RunError(f"{path}: not a benchmark checkpoint (needs keys {list(required)})")
    return state


# Below this many validation identities the CMC-area score is mostly its always-hit ranks.
FEW_VAL_IDS = 30


def write_val_curve(run_dir: Path, history: list[dict], val_ids: int | None = None) -> None:
    """val_curve.csv and val_curve.png from per-epoch rows (epoch, loss, acc, val_score, val_rank1,
    val_mAP, lr). ``val_ids``: identities of the validation draw; under :data:`FEW_VAL_IDS` the
    plot carries a note that the CMC-area score saturates."""
    buf = io.StringIO()
    cols = ["epoch", "loss", "acc", "val_score", "val_rank1", "val_mAP", "lr"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(history)
    write_text(run_dir / "val_curve.csv", buf.getvalue())
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [h["val_score"] for h in history], "b.-", label="score: CMC area, ranks 1-100 (selects best)")
    for key, style, label in (("val_rank1", "g.-", "rank-1 %"), ("val_mAP", "m.-", "mAP %")):
        pts = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]  # older runs lack them
        if pts:
            ax.plot(*zip(*pts, strict=True), style, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation (0-100)")
    ax.set_ylim(0, 101)
    ax2 = ax.twinx()
    ax2.plot(ep, [h["loss"] for h in history], "r--", alpha=0.6, label="train loss")
    ax2.set_ylabel("loss")
    fig.legend(loc="lower center", ncol=2, fontsize=7.5)
    top = 1.0
    if val_ids is not None and val_ids < FEW_VAL_IDS:
        fig.text(
            0.5,
            0.985,
            f"only {val_ids} validation identities: the CMC-area score is >= {max(0, 101 - val_ids)} "
            "by construction;\nread rank-1/mAP, and validate on more identities",
            ha="center",
            va="top",
            fontsize=8,
            color="darkred",
        )
        top = 0.88
    fig.tight_layout(rect=(0, 0.14, 1, top))
    save_png(fig, run_dir / "val_curve.png", dpi=100)


def write_results(run_dir: Path, key: str, result: dict) -> dict:
    """Add one test result under ``key`` to metrics.json and rewrite cmc.csv; returns all metrics."""
    allm = load_metrics(run_dir)
    allm[key] = result
    RunFolder(run_dir).write_metrics(allm)
    keys = sorted(allm)
    n = max(len(allm[k]["cmc"]) for k in keys)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["rank", *keys])
    for i in range(n):
        w.writerow([i + 1, *(f"{allm[k]['cmc'][i]:.6f}" if i < len(allm[k]["cmc"]) else "" for k in keys)])
    write_text(run_dir / "cmc.csv", buf.getvalue())
    return allm
