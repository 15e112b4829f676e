"""Baselines every study reports beside its arms, scored by the benchmark's own protocols.

- chance: random features (every gallery ranking equally likely), averaged over seeded draws;
- untrained: features of the recipe's network with seeded random weights (no training);
- hand-crafted: a LOMO-like descriptor (Liao et al., CVPR 2015): each colour channel
  histogram-equalised (a cheap stand-in for LOMO's Retinex: it removes a camera's gain and
  colour cast), then joint HSV colour histograms and uniform local binary pattern histograms of
  overlapping windows, keeping each bin's maximum over the windows of one horizontal stripe
  (robust to sideways shifts), log-scaled and L2-normalised per part.

Each baseline is an ``extract(records) -> (N, D) float32`` given to
:func:`synthreid.benchmark.protocols.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageOps

from synthreid.errors import DatasetError

LOMO_SIZE = (128, 48)  # (height, width) every image is resized to, pixels
WINDOW, STRIDE = 16, 8  # square windows, pixels
HSV_BINS = (8, 8, 8)
CHANCE_DIM = 16


def _uniform_lbp_table() -> np.ndarray:
    """256 8-bit LBP codes -> 59 labels: the 58 uniform patterns (<= 2 bit transitions), else 58."""
    table = np.full(256, 58, dtype=np.int64)
    label = 0
    for code in range(256):
        bits = [(code >> k) & 1 for k in range(8)]
        if sum(bits[k] != bits[(k + 1) % 8] for k in range(8)) <= 2:
            table[code] = label
            label += 1
    return table


_LBP_TABLE = _uniform_lbp_table()
_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def lbp_codes(grey: np.ndarray, radius: int) -> np.ndarray:
    """Uniform LBP label (0..58) of every pixel of a 2-D array; borders replicate the edge."""
    h, w = grey.shape
    pad = np.pad(grey, radius, mode="edge")
    code = np.zeros((h, w), dtype=np.int64)
    for k, (dy, dx) in enumerate(_OFFSETS):
        nb = pad[
            radius + dy * radius : radius + dy * radius + h, radius + dx * radius : radius + dx * radius + w
        ]
        code |= (nb >= grey).astype(np.int64) << k
    return _LBP_TABLE[code]


def _window_max_hist(labels: np.ndarray, bins: int) -> np.ndarray:
    """Histograms (stripes, bins) of ``labels`` (H, W): per window, then max over each stripe's windows."""
    h, w = labels.shape
    rows = range(0, h - WINDOW + 1, STRIDE)
    cols = range(0, w - WINDOW + 1, STRIDE)
    win = np.stack([labels[r : r + WINDOW, c : c + WINDOW].ravel() for r in rows for c in cols])
    n = win.shape[0]
    flat = (win + (np.arange(n) * bins)[:, None]).ravel()
    hist = np.bincount(flat, minlength=n * bins).reshape(len(rows), len(cols), bins)
    return hist.max(axis=1).astype(np.float32)


def _norm(x: np.ndarray) -> np.ndarray:
    x = np.log1p(x).ravel()
    return x / max(float(np.linalg.norm(x)), 1e-12)


def lomo_descriptor(img: Image.Image) -> np.ndarray:
    """The hand-crafted descriptor of one RGB image: float32 vector (see module doc)."""
    h, w = LOMO_SIZE
    img = img.convert("RGB").resize((w, h), Image.BILINEAR)
    img = Image.merge("RGB", [ImageOps.equalize(c) for c in img.split()])
    hsv = np.asarray(img.convert("HSV"), dtype=np.int64)
    q = [np.minimum(hsv[..., i] * b // 256, b - 1) for i, b in enumerate(HSV_BINS)]
    colour = (q[0] * HSV_BINS[1] + q[1]) * HSV_BINS[2] + q[2]
    grey = np.asarray(img.convert("L"), dtype=np.int16)
    parts = [_window_max_hist(colour, int(np.prod(HSV_BINS)))]
    parts += [_window_max_hist(lbp_codes(grey, r), 59) for r in (1, 2)]
    out = np.concatenate([_norm(p) for p in parts])
    return (out / np.sqrt(len(parts))).astype(np.float32)


def lomo_features(records) -> np.ndarray:
    """Descriptors (N, D) of records' images, in order."""
    feats = []
    for r in records:
        try:
            with Image.open(r.path) as im:
                feats.append(lomo_descriptor(im))
        except OSError as exc:
            raise DatasetError(f"{r.path}: unreadable image ({exc})") from exc
    return np.stack(feats) if feats else np.zeros((0, 0), np.float32)


def random_extractor(draw: int) -> Callable:
    """Features drawn i.i.d. from N(0, 1) for every image: every ranking is equally likely."""
    rng = np.random.default_rng([draw, 0xC4A5CE])

    def extract(records) -> np.ndarray:
        return rng.standard_normal((len(records), CHANCE_DIM)).astype(np.float32)

    return extract


VALUE_KEYS = ("rank1", "rank5", "rank10", "rank20", "mAP", "mINP")


def average_results(results: list[dict]) -> dict:
    """Mean of protocol results (cmc and every value), with ``*_std`` over them (ddof 0)."""
    out = dict(results[0])
    out["cmc"] = np.mean([r["cmc"] for r in results], axis=0).tolist()
    for k in VALUE_KEYS:
        vals = [r[k] for r in results if r.get(k) is not None]
        if vals:
            out[k], out[f"{k}_std"] = float(np.mean(vals)), float(np.std(vals))
    out["draws"] = len(results)
    return out
