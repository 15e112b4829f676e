"""Multi-split runs (CUHK03 classic: 20 splits of 100 test identities) and their aggregation.

::

    RUN/config.json       the shared config, with "split_id": null and "splits": [0, 1, ...]
    RUN/metrics.json      per test entry: mean over the splits' results, with ``*_std`` spreads
    RUN/split-00/ ...     one ordinary run per split (see ``runs``), trained and tested on it

The split runs are the truth; the parent's metrics are rewritten from them after every split
(so an interrupted run resumes split by split) and by ``benchmark eval``. Nothing here imports
torch at module level (``benchmark report`` uses the aggregation).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from synthreid.benchmark import runs
from synthreid.benchmark.datasets import detect_format
from synthreid.errors import SynthreidError
from synthreid.fsutil import write_json

log = logging.getLogger(__name__)

# Result fields averaged over splits (fractions 0-1); each gets a ``*_std`` (population std).
AGG_FIELDS = ("rank1", "rank5", "rank10", "rank20", "mAP", "mINP")
# Config fields that may differ between the runs of one split group.
SPLIT_FIELDS = {"split_id", "splits"}


def split_dir(run_dir: str | Path, split: int) -> Path:
    return Path(run_dir) / f"split-{split:02d}"


def num_splits(paths) -> int:
    """Number of splits of the Open-ReID datasets among ``paths`` (they must agree)."""
    counts = {}
    for p in paths:
        p = Path(p)
        if detect_format(p) == "openreid":
            try:
                splits = json.loads((p / "splits.json").read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise SynthreidError(f"{p / 'splits.json'}: unreadable ({exc})") from exc
            if not isinstance(splits, list) or not splits:
                raise SynthreidError(f"{p / 'splits.json'}: expected a non-empty list of splits")
            counts[str(p)] = len(splits)
    if not counts:
        raise SynthreidError(
            "--splits: needs an Open-ReID dataset (e.g. CUHK03 classic with splits.json) "
            "among --train/--val/--test"
        )
    if len(set(counts.values())) > 1:
        raise SynthreidError(f"--splits: datasets have different numbers of splits {counts}")
    return next(iter(counts.values()))


def parse_splits(text: str, paths) -> list[int]:
    """``all`` or a comma list of split ids (``0,3,5``, ranges ``0-4``) -> sorted unique ids."""
    n = num_splits(paths)
    if text.strip() == "all":
        return list(range(n))
    out: set[int] = set()
    try:
        for part in text.split(","):
            a, _, b = part.strip().partition("-")
            out.update(range(int(a), int(b or a) + 1))
    except ValueError:
        raise SynthreidError(f"--splits {text!r}: expected 'all' or split ids like 0,1,2 or 0-4") from None
    bad = sorted(s for s in out if not 0 <= s < n)
    if bad or not out:
        raise SynthreidError(f"--splits {text!r}: split ids must lie in 0..{n - 1} (got {bad or 'none'})")
    return sorted(out)


def is_parent(run_dir: str | Path) -> bool:
    cfg_path = Path(run_dir) / "config.json"
    return cfg_path.is_file() and bool(runs.load_config(run_dir).get("splits"))


def members(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(split id, run dir) of a parent's split runs that exist on disk."""
    cfg = runs.load_config(run_dir)
    return [
        (s, split_dir(run_dir, s))
        for s in cfg.get("splits") or []
        if (split_dir(run_dir, s) / "config.json").is_file()
    ]


def aggregate(results: list[dict]) -> dict:
    """Mean ± std over the per-split results of one test entry (same dataset and protocol)."""
    first = results[0]
    out = {
        "protocol": first.get("protocol"),
        "dataset": first.get("dataset"),
        "test": first.get("test"),
        "splits": len(results),
        "split_ids": [r.get("split_id") for r in results],
    }
    n = min(len(r["cmc"]) for r in results)
    cmcs = np.array([r["cmc"][:n] for r in results], dtype=float)
    out["cmc"], out["cmc_std"] = cmcs.mean(0).tolist(), cmcs.std(0).tolist()
    for k in AGG_FIELDS:
        vals: list = [r.get(k) for r in results]
        if all(v is not None for v in vals):
            out[k], out[k + "_std"] = float(np.mean(vals)), float(np.std(vals))
        else:
            out[k], out[k + "_std"] = None, None
    epochs = [r.get("best_epoch") for r in results if r.get("best_epoch") is not None]
    out["best_epoch"] = epochs[0] if epochs and len(set(epochs)) == 1 else None
    return out


def aggregate_metrics(per_split: list[dict]) -> dict:
    """{key: aggregate} over the keys every split has (metrics.json dicts, one per split)."""
    keys = set(per_split[0]) if per_split else set()
    for m in per_split[1:]:
        keys &= set(m)
    return {k: aggregate([m[k] for m in per_split]) for k in sorted(keys)}


def write_parent_metrics(run_dir: str | Path) -> dict:
    """Rewrite RUN/metrics.json from the split runs' metrics; returns it."""
    per = [runs.load_metrics(d) for _, d in members(run_dir)]
    per = [m for m in per if m]
    agg = aggregate_metrics(per)
    write_json(Path(run_dir) / "metrics.json", agg)
    return agg


def check_parent(run_dir: Path, config: dict) -> None:
    """Refuse to reuse a parent run dir created with other settings (or not a split run)."""
    path = run_dir / "config.json"
    if not path.is_file():
        return
    old = runs.load_config(run_dir)
    if not old.get("splits"):
        raise runs.RunError(f"{path}: an existing single run, not a multi-split run; use a new run dir")
    skip = runs.RESUMABLE | SPLIT_FIELDS
    diff = sorted(k for k in config if k not in skip and old.get(k) != config[k])
    if diff:
        raise runs.RunError(f"{path}: run exists with different settings {diff}; use a new run dir")


def run_split_training(cfg, run_dir: str | Path, splits: list[int], progress: bool = True) -> dict:
    """Train and test one run per split under ``run_dir`` (resumable); returns
    {split: {test: result}} and leaves the aggregate in RUN/metrics.json."""
    from dataclasses import asdict, replace

    from synthreid.benchmark.engine import run_training

    run_dir = Path(run_dir)
    cfg.validate()
    parent_cfg = {**asdict(cfg), "split_id": None, "splits": list(splits)}
    check_parent(run_dir, parent_cfg)
    if (run_dir / "config.json").is_file():  # a later call may add splits; keep the earlier ones
        old = runs.load_config(run_dir).get("splits") or []
        parent_cfg["splits"] = sorted(set(old) | set(splits))
    out = {}
    for i, s in enumerate(splits):
        log.info("split %d (%d of %d)", s, i + 1, len(splits))
        out[s] = run_training(replace(cfg, split_id=s), split_dir(run_dir, s), progress)
        if i == 0:  # written once a split could start, so a failing run leaves nothing behind
            write_json(run_dir / "config.json", parent_cfg)
        write_parent_metrics(run_dir)
    return out
