"""Benchmark speed, as ratios against baselines measured in the same run.

1. Market-sized evaluation (3,368 queries x 15,913 gallery, 751 ids, 6 cameras): our vectorised
   ``evaluate_market`` / ``cmc`` / ``mean_ap`` against a plain per-query loop (the loop is timed
   on a subset of queries and scaled to all of them).
2. Training throughput (images/s) of InceptionNet at 144x56 on CPU: all cores vs one thread, and
   the data loader (decode + random crop + flip) vs the training step, to show it keeps up.
3. On CUDA: training with AMP + channels-last against plain float32.
4. Architectures on CPU (the fast recipe's candidates): training and forward-only images/s of each
   at the fast recipe's 128x64 against Open-ReID Inception at 144x56 in the same run (ratio
   column), wall-clock and per CPU-second (robust when other processes share the cores); then
   bfloat16 autocast and channels-last for the fast recipe's arch, and the fast recipe's batch
   augmentation and in-memory loader against the training step.
5. Mixing: the losses (label smoothing, symmetric cross-entropy) against plain cross-entropy on
   a 256 x 2,251-class batch (1,500 synthetic + 751 Market identities), and one epoch of the
   weighted ``MixSampler`` against the plain shuffling ``SeededSampler`` (163k images).

Usage: python perf/benchmark.py [--quick] [--loop-queries N] [--steps N] [--batch N]
       python perf/benchmark.py --archs [--arch-list a,b,...] [--threads N] [--steps N] [--batch N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthreid.benchmark import metrics  # noqa: E402
from synthreid.benchmark.protocols import pairwise_distance  # noqa: E402


def loop_market(d, qi, gi, qc, gc, max_rank=50):
    """Per-query reference: one argsort and a python-level pass per query."""
    hist, aps = np.zeros(max_rank), []
    for i in range(d.shape[0]):
        order = np.argsort(d[i], kind="stable")
        keep = ~((gi[order] == qi[i]) & (gc[order] == qc[i]))
        m = (gi[order] == qi[i])[keep]
        if not m.any():
            continue
        first = int(np.argmax(m))
        if first < max_rank:
            hist[first] += 1
        hits = np.flatnonzero(m)
        aps.append(np.mean((np.arange(len(hits)) + 1) / (hits + 1)))
    return np.cumsum(hist) / len(aps), float(np.mean(aps))


def timeit(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def perf_metrics(loop_queries: int, nq=3368, ng=15913):
    rng = np.random.default_rng(0)
    ids = np.arange(751)
    gi, gc = rng.choice(ids, ng), rng.integers(1, 7, ng)
    qi, qc = rng.choice(ids, nq), rng.integers(1, 7, nq)
    centers = rng.standard_normal((751, 128)).astype(np.float32)
    qf = centers[qi] + 1.5 * rng.standard_normal((nq, 128)).astype(np.float32)
    gf = centers[gi] + 1.5 * rng.standard_normal((ng, 128)).astype(np.float32)
    t_dist, d = timeit(lambda: pairwise_distance(qf, gf))
    t_vec, (cmc, m_ap, _) = timeit(lambda: metrics.evaluate_market(d, qi, gi, qc, gc))
    sub = slice(0, loop_queries)
    t_loop_sub, (cmc_l, map_l) = timeit(lambda: loop_market(d[sub], qi[sub], gi, qc[sub], gc))
    t_loop = t_loop_sub * nq / loop_queries
    _, (cmc_v, map_v, _) = timeit(lambda: metrics.evaluate_market(d[sub], qi[sub], gi, qc[sub], gc))
    assert np.allclose(cmc_v, cmc_l) and abs(map_v - map_l) < 1e-9, "vectorised != loop"
    t_cmc, _ = timeit(lambda: metrics.cmc(d, qi, gi, qc, gc, **metrics.CMC_CONFIGS["market1501"]))
    t_map, _ = timeit(lambda: metrics.mean_ap(d, qi, gi, qc, gc))
    print(
        f"[metrics] {nq} x {ng}: distances {t_dist:.2f} s; evaluate_market {t_vec:.2f} s "
        f"(rank1 {cmc[0]:.3f}, mAP {m_ap:.3f}); per-query loop {t_loop:.2f} s "
        f"(timed on {loop_queries} queries, scaled) -> speed-up x{t_loop / t_vec:.1f}"
    )
    print(f"[metrics] open-reid cmc(market1501) {t_cmc:.2f} s, mean_ap (tie-aware) {t_map:.2f} s")


def _train_steps(model, x, y, steps, amp=False, channels_last=False):
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    dev = x.device

    def step():
        with torch.autocast(dev.type, dtype=torch.float16, enabled=amp):
            _, logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    step()  # warm-up (allocations, kernel selection)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps * x.shape[0] / (time.perf_counter() - t)


def perf_training(steps: int, batch: int, gpu_steps: int):
    import torch

    from synthreid.benchmark import data, models

    x = torch.randn(batch, 3, 144, 56)
    y = torch.randint(0, 100, (batch,))
    cores = os.cpu_count() or 1
    torch.manual_seed(0)
    torch.set_num_threads(1)
    one = _train_steps(models.build("inception", 100), x, y, steps)
    torch.set_num_threads(cores)
    allc = _train_steps(models.build("inception", 100), x, y, steps)
    print(
        f"[train cpu] inception 144x56 batch {batch}: {allc:.1f} img/s on {cores} threads, "
        f"{one:.1f} img/s on 1 thread -> x{allc / one:.2f}"
    )

    # Data loading: decode + random-sized rect crop + flip of 128x64 PNGs, vs the training step.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "benchmark"))
    from bench_fixtures import make_synth_dataset

    from synthreid.benchmark.datasets import read_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = make_synth_dataset(Path(tmp) / "ds", n_ids=32, per_id=8, size=(128, 64))
        recs = read_dataset(root).train
        ds = data.ReidImages(recs, [r.pid for r in recs], (144, 56), train=True)
        for workers in (0, min(4, cores)):
            loader = data.make_loader(ds, batch, workers, sampler=data.SeededSampler(len(ds), 0))
            t = time.perf_counter()
            n = sum(len(b[0]) for b in loader)
            ips = n / (time.perf_counter() - t)
            print(f"[loader] {workers} workers: {ips:.0f} img/s -> x{ips / allc:.1f} the CPU training rate")

    if not torch.cuda.is_available():
        print("[train cuda] no CUDA device: skipped")
        return
    dev = torch.device("cuda")
    xg, yg = torch.randn(256, 3, 144, 56, device=dev), torch.randint(0, 1000, (256,), device=dev)
    torch.backends.cudnn.benchmark = True
    fp32 = _train_steps(models.build("inception", 1000).to(dev), xg, yg, gpu_steps)
    amp = _train_steps(
        models.build("inception", 1000).to(dev), xg, yg, gpu_steps, amp=True, channels_last=True
    )
    print(
        f"[train cuda] {torch.cuda.get_device_name()} inception batch 256: fp32 {fp32:.0f} img/s, "
        f"AMP+channels-last {amp:.0f} img/s -> x{amp / fp32:.2f}"
    )
    xr, yr = torch.randn(64, 3, 256, 128, device=dev), torch.randint(0, 1000, (64,), device=dev)
    fp32 = _train_steps(models.build("resnet50", 1000).to(dev), xr, yr, gpu_steps)
    amp = _train_steps(
        models.build("resnet50", 1000).to(dev), xr, yr, gpu_steps, amp=True, channels_last=True
    )
    print(
        f"[train cuda] resnet50 256x128 batch 64: fp32 {fp32:.0f} img/s, AMP+channels-last {amp:.0f} img/s "
        f"-> x{amp / fp32:.2f}"
    )


ARCH_CANDIDATES = (
    "osnet_x0_25",
    "osnet_x0_5",
    "mobilenetv3_small",
    "mobilenetv3_large",
    "efficientnet_lite0",
    "regnetx_002",
)


def _rates(model, x, y, steps, bf16=False, channels_last=False):
    """(train wall img/s, train img per CPU-s, eval wall img/s, eval img per CPU-s) on CPU."""
    import torch

    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def train_step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            _, logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def eval_step():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model(x)

    out = []
    for mode, fn in ((True, train_step), (False, eval_step)):
        model.train(mode)
        fn()  # warm-up (allocations, oneDNN primitive selection)
        t, c = time.perf_counter(), time.process_time()
        for _ in range(steps):
            fn()
        n = steps * x.shape[0]
        out += [n / (time.perf_counter() - t), n / (time.process_time() - c)]
    return tuple(out)


def perf_archs(archs, steps: int, batch: int, threads: int | None):
    """Training/eval images/s of each arch (fast recipe head and size) against Inception, same run."""
    import torch

    from synthreid.benchmark import augment, data, models, recipes

    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    fast = recipes.RECIPES["fast"]
    size = (fast["height"], fast["width"])
    y = torch.randint(0, 200, (batch,))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"[archs] CPU, {threads} torch threads, batch {batch}, {steps} steps, AdamW; load average {load:.1f} "
        f"on {os.cpu_count()} cores (img/CPU-s is the robust column when the load exceeds the cores)"
    )
    print(
        f"{'arch':20s} {'input':>7s} {'params':>8s} {'MMACs':>7s} {'train img/s':>11s} {'img/CPU-s':>9s} "
        f"{'x incep':>7s} {'eval img/s':>10s} {'img/CPU-s':>9s} {'x incep':>7s}"
    )
    base = None
    for arch in ("inception", *archs):
        torch.manual_seed(0)
        if arch == "inception":
            model, hw = models.build("inception", 200), models.INPUT_SIZE["inception"]
        else:
            model, hw = models.build(arch, 200, num_features=0, dropout=0.0, neck="bn"), size
        x = torch.randn(batch, 3, *hw)
        params = sum(p.numel() for p in model.parameters() if p.requires_grad) - 200 * model.head.num_features
        macs = _count_macs(model, hw)
        r = _rates(model, x, y, steps)
        base = base or r
        print(
            f"{arch:20s} {hw[0]:>3d}x{hw[1]:<3d} {params / 1e6:7.2f}M {macs / 1e6:7.1f} {r[0]:11.1f} {r[1]:9.1f} "
            f"{r[1] / base[1]:7.2f} {r[2]:10.1f} {r[3]:9.1f} {r[3] / base[3]:7.2f}"
        )
    arch = fast["arch"]
    x = torch.randn(batch, 3, *size)
    variants = {
        "fp32": {},
        "bf16 autocast": {"bf16": True},
        "channels-last": {"channels_last": True},
        "bf16 + channels-last": {"bf16": True, "channels_last": True},
    }
    rates = {}
    for name, kw in variants.items():
        torch.manual_seed(0)
        rates[name] = _rates(
            models.build(arch, 200, num_features=0, dropout=0.0, neck="bn"), x, y, steps, **kw
        )
    print(
        f"[archs] {arch} on CPU: "
        + ", ".join(
            f"{k} train {v[1]:.1f} / eval {v[3]:.1f} img/CPU-s (x{v[1] / rates['fp32'][1]:.2f} / "
            f"x{v[3] / rates['fp32'][3]:.2f})"
            for k, v in rates.items()
        )
    )
    # The fast recipe's input pipeline: in-memory batches + tensor augmentation vs the step.
    aug = augment.Augment(crop=True, color_jitter=fast["color_jitter"], erasing=fast["random_erasing"])
    imgs = data.MemoryImages([], [], size)
    imgs.images = torch.randint(0, 256, (2048, 3, *size), dtype=torch.uint8)
    imgs.labels = torch.zeros(2048, dtype=torch.int64)
    imgs.cams = torch.zeros(2048, dtype=torch.int64)
    loader = data.make_loader(imgs, batch, 0, sampler=data.SeededSampler(2048, 0), drop_last=True)
    t, c, n = time.perf_counter(), time.process_time(), 0
    for step, (xb, _, _) in enumerate(loader):
        g = augment.batch_generator(0, 0, step)
        augment.normalised(
            data.standardize(augment.pixels(data.to_float(xb, torch.device("cpu")), aug, g)), aug, g
        )
        n += len(xb)
    ips, ipc = n / (time.perf_counter() - t), n / (time.process_time() - c)
    print(
        f"[archs] in-memory loader + batch augmentation (crop, flip, jitter, erasing): {ips:.0f} img/s, "
        f"{ipc:.0f} img/CPU-s -> x{ipc / rates['fp32'][1]:.1f} the {arch} training rate"
    )


def _count_macs(model, hw) -> float:
    """Multiply-accumulates of one forward pass of one image (conv and linear layers)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, *hw))
    model.train(was)
    return counter.get_total_flops() / 2


def perf_mixing(repeat: int = 20, n_synth: int = 150_000, n_real: int = 12_936):
    import torch

    from synthreid.benchmark import data, losses, mixing

    g = torch.Generator().manual_seed(0)
    logits0 = torch.randn(256, 2251, generator=g)
    y = torch.randint(0, 2251, (256,), generator=g)

    def loss_time(name):
        crit = losses.make_criterion(name, label_smoothing=0.1)

        def run():
            for _ in range(repeat):
                logits = logits0.clone().requires_grad_(True)
                crit(logits, y).backward()

        return timeit(run, repeat=3)[0] / repeat

    t = {name: loss_time(name) for name in losses.LOSSES}
    print(
        f"[losses] fwd+bwd 256 x 2251 logits: ce {1e3 * t['ce']:.2f} ms, ls {1e3 * t['ls']:.2f} ms "
        f"(x{t['ls'] / t['ce']:.2f}), sce {1e3 * t['sce']:.2f} ms (x{t['sce'] / t['ce']:.2f})"
    )
    sources = np.r_[np.zeros(n_synth, np.int64), np.ones(n_real, np.int64)]
    t_plain, _ = timeit(lambda: list(data.SeededSampler(len(sources), 0)), repeat=3)
    mix = mixing.MixSampler(sources, [0.5, 0.5], 0)
    t_mix, drawn = timeit(lambda: [i for i, _ in mix], repeat=3)
    frac = float(sources[np.asarray(drawn)].mean())
    print(
        f"[mixing] one epoch of {len(sources)} indices: SeededSampler {t_plain:.3f} s, MixSampler 50:50 "
        f"{t_mix:.3f} s (x{t_mix / t_plain:.2f}); real fraction drawn {frac:.3f} (by size "
        f"{n_real / len(sources):.3f})"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller matrices and fewer steps")
    ap.add_argument("--loop-queries", type=int, default=400)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--gpu-steps", type=int, default=30)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--archs", action="store_true", help="only the architecture comparison (section 4)")
    ap.add_argument("--arch-list", default=",".join(ARCH_CANDIDATES), help="architectures against inception")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    a = ap.parse_args(argv)
    if a.archs:
        perf_archs([s for s in a.arch_list.split(",") if s], a.steps, a.batch, a.threads)
        return
    perf_mixing(5 if a.quick else 20)
    if a.quick:
        perf_metrics(100, nq=800, ng=4000)
    else:
        perf_metrics(a.loop_queries)
    if not a.skip_train:
        perf_training(1 if a.quick else a.steps, a.batch, a.gpu_steps)
        perf_archs(ARCH_CANDIDATES, 1 if a.quick else a.steps, a.batch, a.threads)


if __name__ == "__main__":
    main()
