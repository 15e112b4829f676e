"""Training loop of the refiners: checkpoints with exact resume, CSV/PNG loss logs, sample grids.

Run folder::

    RUN/config.json               RefinerConfig (to_dict)
    RUN/state.json                progress (iterations done of config.iters) at the last checkpoint
    RUN/checkpoints/last.pt       networks, optimisers, schedulers, pools, AMP scalers, iteration
    RUN/losses.csv, losses.png    every log_every iterations: iteration, lr, each loss term
    RUN/samples/iter_NNNNNNN.png  rows a, G_AB(a), G_BA(G_AB(a)), b, G_BA(b), G_AB(G_BA(b))
    RUN/eval.csv, eval.png        held-out identity L1 and colour domain gap (refine.evaluate)
    RUN/metrics.json              iterations, wall seconds, it/s, losses, latest evaluation

The layout is ``synthreid.runfolder``'s (a run of an older version, with
``checkpoints/latest.pt``, is resumed too). Files are written atomically; the CSV and plot
are rewritten with each checkpoint so they always match it. Re-running ``train`` with the same
config on the same folder resumes from ``last.pt`` and continues exactly as an uninterrupted
run (the batches of iteration i depend only on (seed, i); the pools' random state is in the
checkpoint).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from synthreid.fsutil import atomic_path, read_json_object, write_text
from synthreid.plots import pyplot, save_png
from synthreid.refine.config import RefinerConfig
from synthreid.refine.data import UnpairedSamples, fixed_batch, source_pairs, target_pairs, to_image
from synthreid.refine.errors import RefineError
from synthreid.refine.evaluate import EvalSet, evaluate, holdout, read_rows, write_eval, write_metrics
from synthreid.refine.model import RefinerModel
from synthreid.runfolder import Progress, RunFolder
from synthreid.weights import check_plain, load_weights

log = logging.getLogger(__name__)
# Fields that may change between a run and its resumption (they do not change the result).
RESUMABLE_FIELDS = {"num_workers", "checkpoint_every", "sample_every", "log_every", "amp", "extra"}


def pick_device(device: str | None = "auto") -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def save_checkpoint(model: RefinerModel, path: str | Path) -> None:
    state = model.state_dict()
    check_plain(state, str(path))  # never write a checkpoint that load_checkpoint would refuse
    buf = io.BytesIO()
    torch.save(state, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """The checkpoint dict, or RefineError naming the file when it is missing or corrupt."""
    path = Path(path)
    # weights-only: a file naming any Python object (not tensors/numbers/strings) is refused unrun
    state = load_weights(path, RefineError, "checkpoint", map_location=map_location)
    if not isinstance(state, dict) or "G_AB" not in state or "config" not in state:
        raise RefineError(f"{path}: not a refiner checkpoint (missing G_AB/config)")
    return state


def _check_resume_config(run_dir: Path, config: RefinerConfig) -> None:
    path = run_dir / "config.json"
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RefineError(f"{path}: unreadable run config ({exc})") from exc
    if not isinstance(old, dict):
        raise RefineError(f"{path}: expected a JSON object")
    new = config.to_dict()
    try:  # fields added since the run was made compare by their defaults
        old = RefinerConfig.from_dict(old).to_dict()
    except RefineError:
        pass
    diff = sorted(k for k in set(old) | set(new) if k not in RESUMABLE_FIELDS and old.get(k) != new.get(k))
    if diff:
        detail = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
        raise RefineError(
            f"{run_dir}: already holds a run with a different config ({detail}); "
            "use another run folder or the same options to resume"
        )


def _write_log(run_dir: Path, rows: list[dict]) -> None:
    if not rows:
        return
    keys = list(rows[0])
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    write_text(run_dir / "losses.csv", buf.getvalue())
    plot_losses(rows, run_dir / "losses.png")


def _read_log(run_dir: Path, upto: int) -> list[dict]:
    return read_rows(run_dir / "losses.csv", upto)


def plot_losses(rows: list[dict], path: str | Path) -> None:
    """One line per loss term against the iteration (log scale), written as PNG."""
    plt = pyplot()

    keys = [k for k in rows[0] if k not in ("iter", "lr", "sec_per_iter")]
    fig, (ax_g, ax_d) = plt.subplots(1, 2, figsize=(12, 4))
    its = [r["iter"] for r in rows]
    for k in keys:
        ax = ax_d if k.startswith("D_") else ax_g
        ax.plot(its, [max(r.get(k, float("nan")), 1e-8) for r in rows], label=k, linewidth=1)
    for ax, title in ((ax_g, "generator terms"), (ax_d, "discriminators")):
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_png(fig, path, dpi=90)


def sample_grid(model: RefinerModel, a: torch.Tensor, b: torch.Tensor, pad: int = 2) -> Image.Image:
    """Grid: k columns (samples), rows a, G_AB(a), G_BA(G_AB(a)), b, G_BA(b), G_AB(G_BA(b))."""
    fb = model.translate(a, "AB")
    ra = model.translate(fb, "BA")
    fa = model.translate(b, "BA")
    rb = model.translate(fa, "AB")
    rows = [a, fb, ra, b, fa, rb]
    k = max(len(a), len(b))
    h, w = a.shape[-2:]
    grid = Image.new("RGB", (k * (w + pad) + pad, len(rows) * (h + pad) + pad + pad * 3), (255, 255, 255))
    for r, batch in enumerate(rows):
        y = pad + r * (h + pad) + (pad * 3 if r >= 3 else 0)  # a gap between the two directions
        for i, t in enumerate(batch):
            grid.paste(to_image(t), (pad + i * (w + pad), y))
    return grid


def _save_samples(model: RefinerModel, fixed, run_dir: Path) -> None:
    grid = sample_grid(model, fixed[0], fixed[1])
    buf = io.BytesIO()
    grid.save(buf, format="PNG")
    with atomic_path(run_dir / "samples" / f"iter_{model.iteration:07d}.png") as tmp:
        tmp.write_bytes(buf.getvalue())


def _resume(folder: RunFolder, config: RefinerConfig, model: RefinerModel) -> tuple[list, list, float]:
    """Load the folder's last checkpoint into ``model`` when there is one (the config must match);
    returns the loss rows, evaluation rows and wall seconds done so far."""
    run_dir = folder.path
    ckpt_path = folder.find_checkpoint("last")  # also an older run's checkpoints/latest.pt
    if ckpt_path is None:
        if folder.has_config():
            _check_resume_config(run_dir, config)
        return [], [], 0.0
    _check_resume_config(run_dir, config)
    model.load_state_dict(load_checkpoint(ckpt_path, map_location=model.device))
    log.info("resuming %s at iteration %d", run_dir, model.iteration)
    return (
        _read_log(run_dir, model.iteration),
        read_rows(run_dir / "eval.csv", model.iteration),
        float(read_json_object(run_dir / "metrics.json").get("wall_seconds") or 0.0),
    )


def _loader(samples: UnpairedSamples, config: RefinerConfig, start: int, end: int, dev: torch.device):
    """Batches of iterations ``start..end-1`` in order (batch i depends only on (seed, i))."""
    bs = config.batch_size
    return torch.utils.data.DataLoader(
        torch.utils.data.Subset(samples, range(start * bs, end * bs)),
        batch_size=bs,
        shuffle=False,
        num_workers=config.num_workers,
        pin_memory=dev.type == "cuda",
        drop_last=True,
        persistent_workers=config.num_workers > 0,
    )


def train(
    config: RefinerConfig,
    run_dir: str | Path,
    device: str | None = "auto",
    progress: bool = True,
    stop_after: int | None = None,
) -> Path:
    """Train (or resume) a refiner in ``run_dir``; returns ``run_dir``.

    ``stop_after``: stop (with a checkpoint) once this many iterations are done in total,
    before ``config.iters``; used to interrupt runs on purpose (tests, time-boxed jobs).
    """
    run_dir = Path(run_dir)
    dev = pick_device(device)
    source, held_out = holdout(source_pairs(config.source), config.eval_images)
    target = target_pairs(config.target, config.target_masks)
    folder = RunFolder(run_dir)
    model = RefinerModel(config, dev)
    rows, eval_rows, wall_before = _resume(folder, config, model)
    folder.write_config(config.to_dict())
    folder.set_progress(Progress(model.iteration, config.iters, "iter"))  # shown from the start
    end = config.iters if stop_after is None else min(config.iters, stop_after)
    if model.iteration >= end:
        return run_dir

    samples = UnpairedSamples(
        source,
        target,
        config.size,
        config.iters * config.batch_size,
        config.seed,
        config.load_scale,
        config.flip,
    )
    loader = _loader(samples, config, model.iteration, end, dev)
    fixed = (fixed_batch(source, config.size)[0], fixed_batch(target, config.size)[0])
    evalset = None
    if held_out:
        a, ma = fixed_batch(held_out, config.size, n=len(held_out))
        evalset = EvalSet(a, ma, fixed_batch(target, config.size, n=config.eval_images)[0])
        if not eval_rows:
            eval_rows.append({"iter": model.iteration, **evaluate(model.translate, evalset)})
    started = time.perf_counter()
    bar = tqdm(
        loader,
        total=end - model.iteration,
        initial=0,
        desc=f"refine {config.model}",
        unit="it",
        disable=not progress,
        dynamic_ncols=True,
    )
    t0 = time.perf_counter()
    for batch in bar:
        losses = model.step(batch)
        it = model.iteration
        if it % config.log_every == 0 or it == end:
            now = time.perf_counter()
            rows.append(
                {
                    "iter": it,
                    "lr": model.opt_G.param_groups[0]["lr"],
                    **losses,
                    "sec_per_iter": (now - t0) / max(1, it - (rows[-1]["iter"] if rows else 0)),
                }
            )
            t0 = now
            bar.set_postfix(G=f"{losses['G']:.3f}", D_A=f"{losses['D_A']:.3f}", D_B=f"{losses['D_B']:.3f}")
        if it % config.sample_every == 0 or it == end:
            _save_samples(model, fixed, run_dir)
        if it % config.checkpoint_every == 0 or it == end:
            if evalset is not None:
                eval_rows.append({"iter": it, **evaluate(model.translate, evalset)})
            save_checkpoint(model, folder.checkpoint("last"))
            folder.retire_legacy_checkpoints("last")
            folder.write_state(Progress(it, config.iters, "iter"))
            _write_log(run_dir, rows)
            write_eval(run_dir, eval_rows)
            write_metrics(
                run_dir,
                iteration=it,
                iters_total=config.iters,
                wall_seconds=wall_before + time.perf_counter() - started,
                loss_rows=rows,
                eval_row=eval_rows[-1] if eval_rows else None,
                n_eval=(len(held_out), len(evalset.b) if evalset else 0),
            )
    bar.close()
    return run_dir
