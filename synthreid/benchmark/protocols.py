"""Test protocols: the thesis' 100-identity draws, Market-1501, and CUHK03 (classic and new).

A protocol takes a :class:`~synthreid.benchmark.datasets.ReidDataset` and a feature extractor
``extract(records) -> float32 array (N, D)`` and returns a JSON-able result dict with at least
``cmc`` (list, rank 1 first), ``rank1/5/10/20`` (fractions 0-1) and ``mAP`` (None when the
protocol has none). Distances are squared Euclidean (ranking-equivalent to Euclidean).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from synthreid.benchmark import metrics, runs
from synthreid.errors import DatasetError

PROTOCOLS = ("thesis", "market", "cuhk03")
RANKS = (1, 5, 10, 20)


def pairwise_distance(qf: np.ndarray, gf: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (Nq, Ng) of float features (Nq, D), (Ng, D)."""
    qf = np.asarray(qf, dtype=np.float32)
    gf = np.asarray(gf, dtype=np.float32)
    d = qf @ gf.T
    d *= -2.0  # in place: Market-sized matrices are ~200 MB each
    d += (qf * qf).sum(1)[:, None]
    d += (gf * gf).sum(1)[None, :]
    return np.maximum(d, 0.0, out=d)


def _ranks(cmc) -> dict:
    return {f"rank{k}": float(cmc[min(k, len(cmc)) - 1]) for k in RANKS}


def thesis_draws(
    records, num_ids: int = 100, draws: int = 1, seed: int = 0, cross_camera: bool = False
) -> list[tuple[list, list]]:
    """Seeded draws of ``num_ids`` identities with one query and one gallery image each.

    Returns [(query_indices, gallery_indices)] into ``records``. The two images of an identity
    come from different cameras when it has several (re-ID is across cameras), else any two;
    ``cross_camera`` (the test protocol) leaves identities seen by one camera out.
    Identities with a single image cannot take part (with one identity the CMC is trivially 1).
    """
    by_pid = defaultdict(list)
    for i, r in enumerate(records):
        by_pid[r.pid].append(i)
    if cross_camera:
        pids = sorted(p for p, idx in by_pid.items() if len({records[i].camid for i in idx}) >= 2)
        if not pids:
            raise DatasetError("thesis protocol: no identity has images from 2 or more cameras")
    else:
        pids = sorted(p for p, idx in by_pid.items() if len(idx) >= 2)
    if not pids:
        raise DatasetError(
            "thesis protocol: no identity has 2 or more images (need a query and a gallery image)"
        )
    n = min(num_ids, len(pids))
    out = []
    for d in range(draws):
        rng = np.random.default_rng([seed, 0x7E51, d])
        q, g = [], []
        for pid in rng.choice(pids, size=n, replace=False):
            idx = by_pid[int(pid)]
            a = int(rng.choice(idx))
            others = [i for i in idx if i != a and records[i].camid != records[a].camid] or [
                i for i in idx if i != a
            ]
            q.append(a)
            g.append(int(rng.choice(others)))
        out.append((q, g))
    return out


def thesis_cmc(features: np.ndarray, records, q_idx, g_idx, topk: int = 100) -> np.ndarray:
    """CMC of one draw: every query has exactly one true match in the gallery."""
    ids = np.array([r.pid for r in records])
    dist = pairwise_distance(features[q_idx], features[g_idx])
    return metrics.cmc(dist, ids[q_idx], ids[g_idx], topk=topk, **metrics.CMC_CONFIGS["allshots"])


def validation_score(features, records, draw) -> float:
    """Thesis §2.3.3: area under the CMC (sum of its 100 entries) of one fixed draw.

    It equals 101 - mean rank of the true match, so with n < 100 identities it is at least
    100 - n by construction (ranks n..100 always hit): read :func:`validation_metrics` too.
    """
    return float(thesis_cmc(features, records, *draw).sum())


def validation_metrics(features, records, draw) -> dict:
    """Score (CMC area, 0-100), rank-1 (%) and mAP (%) of one fixed validation draw.

    Each query has one true match in the gallery, so its average precision is 1 / rank and
    mAP is the mean reciprocal rank; unlike the CMC area neither saturates with few identities.
    """
    cmc = thesis_cmc(features, records, *draw)
    mrr = float((np.diff(cmc, prepend=0.0) / np.arange(1, len(cmc) + 1)).sum())  # ranks > 100 count 0
    return {
        "val_score": float(cmc.sum()),
        "val_rank1": 100.0 * float(cmc[0]),
        "val_mAP": 100.0 * mrr,
        "val_ids": len(draw[0]),
    }


# A test set is refused when fewer than this fraction of its identities (thesis) or queries
# (market, cuhk03) can be scored across cameras: the number would describe a few people only.
MIN_SCORABLE = 0.5


def _cams_by_pid(records) -> dict[int, set]:
    cams = defaultdict(set)
    for r in records:
        cams[r.pid].add(r.camid)
    return cams


def check_test_set(protocol: str, ds) -> list[str]:
    """Refuse (DatasetError) a test set that ``protocol`` cannot score; return warnings.

    thesis: identities need images from >= 2 cameras (those seen by one camera are left out of
    the draws; refused when they are more than half, or fewer than 2 identities remain).
    market / cuhk03: a query needs a gallery image of its identity on another camera (queries
    without one are ignored, as in Market-1501's evaluation; refused when they are more than half).
    """
    if protocol not in PROTOCOLS:
        raise DatasetError(f"protocol {protocol!r}: unknown (valid: {', '.join(PROTOCOLS)})")
    if protocol == "thesis":
        pool = ds.test_pool()
        if not pool:
            raise DatasetError(f"{ds.root}: no test images for the thesis protocol")
        cams = _cams_by_pid(pool)
        one = sum(len(c) < 2 for c in cams.values())
        if len(cams) - one < 2 or one > (1 - MIN_SCORABLE) * len(cams):
            raise DatasetError(
                f"{ds.root}: thesis protocol: test identities need images from >= 2 cameras; "
                f"{one} of {len(cams)} have one: render more images per character"
            )
        if one:
            return [
                f"{ds.root}: {one} of {len(cams)} test identities have images from one camera only; "
                "they are left out of the thesis draws"
            ]
        return []
    if not ds.query or not ds.gallery:
        hint = (
            ": queries need identities seen by >= 2 cameras; render more images per character"
            if ds.gallery
            else ""
        )
        raise DatasetError(
            f"{ds.root}: no query/gallery images for the {protocol} protocol "
            f"({len(ds.query)} queries, {len(ds.gallery)} gallery images){hint}"
        )
    gallery_cams = _cams_by_pid(ds.gallery)
    bad = sum(not (gallery_cams.get(q.pid, set()) - {q.camid}) for q in ds.query)
    if bad == len(ds.query):
        raise DatasetError(
            f"{ds.root}: {protocol} protocol: no query has a gallery image of the same identity "
            "on another camera: render more images per character, or export again"
        )
    if bad > (1 - MIN_SCORABLE) * len(ds.query):
        raise DatasetError(
            f"{ds.root}: {protocol} protocol: {bad} of {len(ds.query)} queries have no gallery "
            "image of the same identity on another camera: render more images per character"
        )
    if bad:
        return [
            f"{ds.root}: {bad} of {len(ds.query)} queries have no gallery image of their identity on "
            "another camera and are ignored"
        ]
    return []


def check_validation_set(records, where) -> None:
    """Refuse (DatasetError) a validation split that cannot give a score."""
    counts: defaultdict = defaultdict(int)
    for r in records:
        counts[r.pid] += 1
    usable = sum(c >= 2 for c in counts.values())
    if usable < 2:
        raise DatasetError(
            f"{where}: validation needs >= 2 identities with >= 2 images each; {usable} of "
            f"{len(counts)} validation identities have >= 2 images: render more characters "
            "or more images per character"
        )


FEW_VAL_IDS = runs.FEW_VAL_IDS  # fewer validation identities than this get a warning


def few_val_ids_note(n: int) -> str:
    return (
        f"only {n} validation identities (< {FEW_VAL_IDS}): the validation score (CMC area over ranks "
        f"1-100) is >= {max(0, 101 - n)} by construction and about {101 - (n + 1) / 2:.0f} for a random "
        "model; read val rank-1/mAP, and use more validation identities (--val-ids, larger datasets)"
    )


def eval_thesis(ds, extract: Callable, num_ids: int = 100, draws: int = 10, seed: int = 0) -> dict:
    pool = ds.test_pool()
    if not pool:
        raise DatasetError(f"{ds.root}: no test images for the thesis protocol")
    sel = thesis_draws(pool, num_ids, draws, seed, cross_camera=True)
    feats = extract(pool)
    cmcs = np.stack([thesis_cmc(feats, pool, q, g) for q, g in sel])
    mean, std = cmcs.mean(0), cmcs.std(0)
    # One true match per query, at most len(gallery) <= topk ranks: INP = 1 / rank, so mINP is the
    # CMC's increments weighted by 1 / rank (the mean reciprocal rank).
    inps = (np.diff(cmcs, axis=1, prepend=0.0) / np.arange(1, cmcs.shape[1] + 1)).sum(1)
    res = {
        "protocol": "thesis",
        "cmc": mean.tolist(),
        "cmc_std": std.tolist(),
        "mAP": None,
        "mINP": float(inps.mean()),
        "mINP_std": float(inps.std()),
        "draws": draws,
        "num_ids": len(sel[0][0]),
        **_ranks(mean),
    }
    res.update({f"{k}_std": v for k, v in _ranks(std).items()})
    return res


def _query_gallery(ds, extract):
    if not ds.query or not ds.gallery:
        raise DatasetError(f"{ds.root}: no query/gallery images for this protocol")
    qf, gf = extract(ds.query), extract(ds.gallery)
    arr = lambda rs, a: np.array([getattr(r, a) for r in rs])  # noqa: E731
    return (
        pairwise_distance(qf, gf),
        arr(ds.query, "pid"),
        arr(ds.gallery, "pid"),
        arr(ds.query, "camid"),
        arr(ds.gallery, "camid"),
    )


def eval_market(ds, extract: Callable, max_rank: int = 50) -> dict:
    """All queries against the gallery, same identity + camera removed (Market-1501, CUHK03-NP)."""
    dist, qi, gi, qc, gc = _query_gallery(ds, extract)
    cmc, m_ap, m_inp = metrics.evaluate_market(dist, qi, gi, qc, gc, max_rank=max_rank)
    return {
        "protocol": "market",
        "cmc": cmc.tolist(),
        "mAP": float(m_ap),
        "mINP": float(m_inp),
        "num_query": len(qi),
        "num_gallery": len(gi),
        **_ranks(cmc),
    }


def eval_cuhk03(ds, extract: Callable, seed: int = 0) -> dict:
    """CUHK03: the new 767/700 protocol for CUHK03-NP folders (Market-style), else the classic
    Open-ReID evaluation of the chosen split (single-gallery-shot CMC, separate cameras)."""
    if ds.format == "cuhk03np":
        return {**eval_market(ds, extract), "protocol": "cuhk03-new"}
    dist, qi, gi, qc, gc = _query_gallery(ds, extract)
    cmc = metrics.cmc(
        dist, qi, gi, qc, gc, topk=100, rng=np.random.default_rng(seed), **metrics.CMC_CONFIGS["cuhk03"]
    )
    # mINP as in the Market protocol (same identity + camera removed; here: the other camera)
    m_inp = metrics.evaluate_market(dist, qi, gi, qc, gc, max_rank=1)[2]
    return {
        "protocol": "cuhk03-classic",
        "cmc": cmc.tolist(),
        "mAP": metrics.mean_ap(dist, qi, gi, qc, gc),
        "mINP": float(m_inp),
        "split_id": ds.info.get("split_id"),
        **_ranks(cmc),
    }


def evaluate(
    protocol: str, ds, extract: Callable, seed: int = 0, draws: int = 10, num_ids: int = 100
) -> dict:
    """Run ``protocol`` (one of :data:`PROTOCOLS`) on the test side of ``ds``."""
    if protocol == "thesis":
        return eval_thesis(ds, extract, num_ids=num_ids, draws=draws, seed=seed)
    if protocol == "market":
        return eval_market(ds, extract)
    if protocol == "cuhk03":
        return eval_cuhk03(ds, extract, seed=seed)
    raise DatasetError(f"protocol {protocol!r}: unknown (valid: {', '.join(PROTOCOLS)})")
