"""Refiner speed at 128x64 (design defaults: resnet_9blocks, 70x70 PatchGAN, ngf = ndf = 64).

Prints absolute rates and ratios against baselines measured in the same run:
  train   iterations/s of RefinerModel.step (batch 1)  vs. one bare G forward+backward
          (a CycleGAN step runs 6 generator and 6 discriminator passes, so ~1/8 is expected)
  infer   images/s of batched G_AB inference           vs. batch 1
  apply   images/s of refine.apply end to end (PNG IO)  vs. batched inference alone
  amp     (CUDA only) train and inference with AMP      vs. the same in fp32
  fgbg    step time of fgbg with / without the background discriminator vs. the cyclegan step
  eval    one held-out evaluation (16 renders, refine.evaluate) vs. one training step

    python perf/refine.py [--device cpu|cuda] [--iters 10] [--batch 16] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthreid.dataset import image_stem, write_manifest  # noqa: E402
from synthreid.refine.apply import apply  # noqa: E402
from synthreid.refine.config import RefinerConfig  # noqa: E402
from synthreid.refine.evaluate import EvalSet, evaluate  # noqa: E402
from synthreid.refine.model import RefinerModel  # noqa: E402
from synthreid.refine.networks import build_generator  # noqa: E402
from synthreid.refine.train import save_checkpoint  # noqa: E402

H, W = 128, 64


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, n: int, dev, warmup: int = 2) -> float:
    """Seconds per call of ``fn`` (after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    _sync(dev)
    t = time.perf_counter()
    for _ in range(n):
        fn()
    _sync(dev)
    return (time.perf_counter() - t) / n


def make_fixture(root: Path, n: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    src, tgt = root / "src", root / "tgt"
    for d in (src / "images", src / "masks", tgt):
        d.mkdir(parents=True)
    for i in range(n):
        img = rng.integers(0, 256, (H + int(rng.integers(0, 20)), W + int(rng.integers(0, 10)), 3), np.uint8)
        mask = np.zeros(img.shape[:2], np.uint8)
        mask[10:-10, 5:-5] = 255
        stem = image_stem(i, 1, 0)
        Image.fromarray(img).save(src / "images" / f"{stem}.png")
        Image.fromarray(mask).save(src / "masks" / f"{stem}.png")
        Image.fromarray(rng.integers(0, 256, (H, W, 3), np.uint8)).save(tgt / f"t{i:03d}.png")
    write_manifest(src, {"name": "src", "kind": "rendered", "splits": {"train": list(range(n))}})
    return src, tgt


def batch_of(n: int, dev) -> dict:
    g = torch.Generator().manual_seed(0)
    mk = lambda c: (torch.rand(n, c, H, W, generator=g) * 2 - 1).to(dev)  # noqa: E731
    return {"a": mk(3), "b": mk(3), "mask_a": (mk(1) > 0).float(), "mask_b": (mk(1) > 0).float()}


def measure(dev, amp: bool, iters: int, batch: int, src: Path, tgt: Path, work: Path) -> dict:
    cfg = RefinerConfig(source=str(src), target=str(tgt), model="cyclegan", size=(H, W), amp=amp)
    model = RefinerModel(cfg, dev)
    b1 = batch_of(1, dev)
    res = {"train_s": timed(lambda: model.step(b1), iters, dev)}

    g = build_generator("resnet_9blocks").to(dev)
    x1 = b1["a"]

    def g_fwd_bwd():
        with torch.autocast("cuda", dtype=torch.float16, enabled=model.use_amp):
            y = g(x1)
        y.float().mean().backward()

    res["g_fwd_bwd_s"] = timed(g_fwd_bwd, iters, dev)
    xb = batch_of(batch, dev)["a"]
    res["infer1_s"] = timed(lambda: model.translate(x1), iters, dev)
    res["inferB_s"] = timed(lambda: model.translate(xb), max(2, iters // 2), dev) / batch

    run = work / f"run-{dev.type}-{amp}"
    save_checkpoint(model, run / "checkpoints" / "last.pt")
    out = work / f"out-{dev.type}-{amp}"
    n_img = len(list((src / "images").iterdir()))
    t = time.perf_counter()
    apply(run, src, out_dir=out, batch_size=batch, device=str(dev), progress=False)
    res["apply_s"] = (time.perf_counter() - t) / n_img
    return res


def measure_variants(dev, iters: int, src: Path, tgt: Path) -> dict:
    """Seconds per step of cyclegan, fgbg without and with D_bg; seconds per evaluation."""
    res = {}
    b1 = batch_of(1, dev)
    for tag, kw in (
        ("cyclegan", {}),
        ("fgbg_no_bgd", {"model": "fgbg", "bg_discriminator": False}),
        ("fgbg", {"model": "fgbg"}),
    ):
        model = RefinerModel(
            RefinerConfig(source=str(src), target=str(tgt), size=(H, W), amp=False, **kw), dev
        )
        res[f"{tag}_s"] = timed(lambda m=model: m.step(b1), iters, dev)
    b16 = batch_of(16, dev)
    evalset = EvalSet(b16["a"].cpu(), b16["mask_a"].cpu(), b16["b"].cpu())
    res["eval_s"] = timed(lambda: evaluate(model.translate, evalset), max(2, iters // 3), dev, warmup=1)
    return res


def report_variants(tag: str, r: dict) -> None:
    c = r["cyclegan_s"]
    print(
        f"[{tag}] fgbg step = {r['fgbg_no_bgd_s'] / c:.2f}x cyclegan without D_bg, {r['fgbg_s'] / c:.2f}x with "
        f"({1 / r['fgbg_s']:.2f} it/s); one evaluation of 16 renders = {r['eval_s'] / r['fgbg_s']:.2f} fgbg steps "
        f"({r['eval_s'] * 1000:.0f} ms)"
    )


def report(tag: str, r: dict) -> None:
    print(
        f"[{tag}] train: {1 / r['train_s']:.2f} it/s; bare G fwd+bwd {1 / r['g_fwd_bwd_s']:.2f}/s; "
        f"ratio step/G = {r['train_s'] / r['g_fwd_bwd_s']:.1f}x the time"
    )
    print(
        f"[{tag}] infer: batched {1 / r['inferB_s']:.1f} img/s vs batch-1 {1 / r['infer1_s']:.1f} img/s "
        f"-> batching speed-up {r['infer1_s'] / r['inferB_s']:.2f}x"
    )
    print(
        f"[{tag}] apply end to end: {1 / r['apply_s']:.1f} img/s = {r['inferB_s'] / r['apply_s']:.2f} "
        "of batched inference alone"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--images", type=int, default=48, help="images in the apply fixture")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    print(
        f"device {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
        f"torch {torch.__version__}, size {H}x{W}, resnet_9blocks + basic PatchGAN, batch 1 training"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        src, tgt = make_fixture(Path(tmp), args.images)
        results["fp32"] = measure(dev, False, args.iters, args.batch, src, tgt, Path(tmp))
        report(f"{dev.type} fp32", results["fp32"])
        results["variants"] = measure_variants(dev, args.iters, src, tgt)
        report_variants(f"{dev.type} fp32", results["variants"])
        if dev.type == "cuda":
            results["amp"] = measure(dev, True, args.iters, args.batch, src, tgt, Path(tmp))
            report(f"{dev.type} amp", results["amp"])
            f, a = results["fp32"], results["amp"]
            print(
                f"[amp vs fp32] train {f['train_s'] / a['train_s']:.2f}x, batched inference "
                f"{f['inferB_s'] / a['inferB_s']:.2f}x, apply {f['apply_s'] / a['apply_s']:.2f}x faster"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
