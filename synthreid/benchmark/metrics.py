"""Re-ID ranking metrics, vectorised numpy (Open-ReID and Market-1501 semantics).

All functions take a distance matrix ``distmat`` of shape (num_query, num_gallery), smaller =
more similar. Ranking is *stable*: ties keep gallery order (Open-ReID uses an unstable
quicksort; stable makes results reproducible). Masks are built for blocks of query rows.

No row is fully sorted: a query's matches (k of them, k << gallery size) are sorted and every
gallery distance is located among them with a binary search, O(n log k) per query instead of
O(n log n), which is where a per-query argsort loop spends its time.

Open-ReID's named settings of :func:`cmc` are in :data:`CMC_CONFIGS`.
"""

from __future__ import annotations

import numpy as np

from synthreid.errors import SynthreidError

CMC_CONFIGS = {
    "allshots": dict(separate_camera_set=False, single_gallery_shot=False, first_match_break=False),
    "cuhk03": dict(separate_camera_set=True, single_gallery_shot=True, first_match_break=False),
    "market1501": dict(separate_camera_set=False, single_gallery_shot=False, first_match_break=True),
}
SGS_REPEAT = 10  # Open-ReID's number of single-gallery-shot draws per query
BLOCK_ROWS = 256


class MetricError(SynthreidError, ValueError):
    """Metric inputs are inconsistent (shapes, no valid query)."""


def _prepare(distmat, query_ids, gallery_ids, query_cams, gallery_cams):
    d = np.asarray(distmat)
    if d.ndim != 2:
        raise MetricError(f"distmat: expected a 2-D (query, gallery) matrix, got shape {d.shape}")
    m, n = d.shape
    # Open-ReID's defaults: every query its own identity, query and gallery on different cameras.
    qi = np.arange(m) if query_ids is None else np.asarray(query_ids)
    gi = np.arange(n) if gallery_ids is None else np.asarray(gallery_ids)
    qc = np.zeros(m, dtype=np.int64) if query_cams is None else np.asarray(query_cams)
    gc = np.ones(n, dtype=np.int64) if gallery_cams is None else np.asarray(gallery_cams)
    for name, arr, size in (
        ("query_ids", qi, m),
        ("gallery_ids", gi, n),
        ("query_cams", qc, m),
        ("gallery_cams", gc, n),
    ):
        if arr.shape != (size,):
            raise MetricError(f"{name}: expected shape ({size},) to match distmat {d.shape}, got {arr.shape}")
    return d, qi, gi, qc, gc


def _ranked_block(d, qi, gi, qc, gc, rows, separate_camera_set=False):
    """Sorted gallery order, match and validity masks for query rows ``rows``: (b, n) arrays."""
    order = np.argsort(d[rows], axis=1, kind="stable")
    g_ids = gi[order]
    g_cams = gc[order]
    same_id = g_ids == qi[rows, None]
    same_cam = g_cams == qc[rows, None]
    valid = ~(same_id & same_cam)
    if separate_camera_set:
        valid &= ~same_cam
    return order, g_ids, same_id & valid, valid


def _match_positions(d_row, match, valid):
    """One query's matches in ranked order: (before, le, tp_le), int arrays (k,).

    ``before[t]``: valid entries ranked before match t (stable order: smaller distance, or equal
    distance and smaller gallery index); ``le[t]``: valid entries with distance <= match t's;
    ``tp_le[t]``: matches with distance <= match t's.
    """
    jm = np.flatnonzero(match)
    dm = d_row[jm]
    o = np.argsort(dm, kind="stable")
    jm, dm = jm[o], dm[o]
    k = len(dm)
    gv = np.flatnonzero(valid)
    dv = d_row[gv]
    r = np.searchsorted(dm, dv, side="right")  # matches with distance <= d_g
    lft = np.searchsorted(dm, dv, side="left")  # matches with distance < d_g
    # d_g < dm[t]  <=>  r_g <= t ;  d_g <= dm[t]  <=>  lft_g <= t
    before = np.cumsum(np.bincount(r, minlength=k + 1))[:k]
    le = np.cumsum(np.bincount(lft, minlength=k + 1))[:k]
    tied = np.flatnonzero(r > lft)
    if tied.size:  # entries at exactly a match's distance precede it when their index is smaller
        cnt = r[tied] - lft[tied]
        g_rep = np.repeat(gv[tied], cnt)
        t_rep = np.repeat(lft[tied] - np.cumsum(cnt) + cnt, cnt) + np.arange(cnt.sum())
        before = before + np.bincount(t_rep[g_rep < jm[t_rep]], minlength=k)
    tp_le = np.searchsorted(dm, dm, side="right")
    return before, le, tp_le


def _blocks(d, qi, gi, qc, gc, separate_camera_set=False):
    """Yield (row, match mask, valid mask) for every query, masks built per block of rows."""
    for start in range(0, d.shape[0], BLOCK_ROWS):
        rows = slice(start, min(d.shape[0], start + BLOCK_ROWS))
        same_id = gi[None, :] == qi[rows, None]
        same_cam = gc[None, :] == qc[rows, None]
        valid = ~(same_id & same_cam)
        if separate_camera_set:
            valid &= ~same_cam
        match = same_id & valid
        has = match.any(axis=1)
        for b in np.flatnonzero(has):
            yield start + b, match[b], valid[b]


def cmc(
    distmat,
    query_ids=None,
    gallery_ids=None,
    query_cams=None,
    gallery_cams=None,
    topk=100,
    separate_camera_set=False,
    single_gallery_shot=False,
    first_match_break=False,
    rng=None,
):
    """Cumulative match characteristic, Open-ReID semantics; returns float array (topk,).

    Gallery entries with the query's identity *and* camera are ignored; with
    ``separate_camera_set`` every same-camera entry is. Without ``first_match_break`` each of a
    query's k matches adds 1/k at its rank among the non-matches ("allshots"). With
    ``single_gallery_shot`` one random instance per gallery identity is kept, 10 draws per query
    from ``rng`` (numpy Generator; default seed 0). Queries without any valid match are skipped.
    """
    d, qi, gi, qc, gc = _prepare(distmat, query_ids, gallery_ids, query_cams, gallery_cams)
    if topk < 1:
        raise MetricError(f"topk: expected >= 1, got {topk}")
    rng = np.random.default_rng(0) if rng is None else rng
    m, n = d.shape
    ret = np.zeros(topk)
    num_valid = 0
    if single_gallery_shot:
        for start in range(0, m, BLOCK_ROWS):
            rows = np.arange(start, min(m, start + BLOCK_ROWS))
            _, g_ids, match, valid = _ranked_block(d, qi, gi, qc, gc, rows, separate_camera_set)
            has = match.any(axis=1)
            num_valid += int(has.sum())
            ret += _sgs_hist(g_ids, match, valid, has, topk, rng)
    else:
        for i, match, valid in _blocks(d, qi, gi, qc, gc, separate_camera_set):
            num_valid += 1
            before = _match_positions(d[i], match, valid)[0]
            rank = before - np.arange(len(before))  # non-matches ranked before each match
            if first_match_break:
                if rank[0] < topk:
                    ret[rank[0]] += 1
            else:
                keep = rank < topk
                ret += np.bincount(rank[keep], minlength=topk)[:topk] / len(rank)
    if num_valid == 0:
        raise MetricError("cmc: no query has a valid gallery match")
    return np.cumsum(ret) / num_valid


def _sgs_hist(g_ids, match, valid, has, topk, rng):
    """Histogram of single-gallery-shot ranks for one block (already weighted by 1/repeat).

    Per draw, each (query, gallery identity) keeps the valid instance with the largest uniform
    key, i.e. one instance chosen uniformly at random; keys are drawn in ranked order.
    """
    b, n = g_ids.shape
    hist = np.zeros(topk)
    _, labels = np.unique(g_ids, return_inverse=True)
    labels = labels.reshape(b, n)
    nl = int(labels.max()) + 1 if labels.size else 1
    flat = labels + (np.arange(b) * nl)[:, None]
    for _ in range(SGS_REPEAT):
        keys = rng.random((b, n))
        keys[~valid] = -1.0
        best = np.full(b * nl, -1.0)
        np.maximum.at(best, flat.ravel(), keys.ravel())
        chosen = valid & (keys == best[flat])
        # The query's own identity has exactly one chosen instance: its rank is the number of
        # chosen (other-identity) instances before it.
        rank = np.cumsum(chosen & ~match, axis=1)
        pos = np.argmax(chosen & match, axis=1)
        r = rank[np.arange(b), pos][has]
        hist += np.bincount(r[r < topk], minlength=topk)[:topk] / SGS_REPEAT
    return hist


def mean_ap(distmat, query_ids=None, gallery_ids=None, query_cams=None, gallery_cams=None):
    """Mean average precision, Open-ReID semantics: same identity + camera ignored, AP as
    sklearn's ``average_precision_score`` (precision taken at the end of each group of tied
    distances)."""
    d, qi, gi, qc, gc = _prepare(distmat, query_ids, gallery_ids, query_cams, gallery_cams)
    aps = []
    for i, match, valid in _blocks(d, qi, gi, qc, gc):
        _, le, tp_le = _match_positions(d[i], match, valid)
        aps.append(float(np.mean(tp_le / le)))
    if not aps:
        raise MetricError("mean_ap: no query has a valid gallery match")
    return float(np.mean(aps))


def evaluate_market(distmat, q_ids, g_ids, q_cams, g_cams, max_rank=50):
    """Standard Market-1501 protocol: returns (cmc (max_rank,), mAP, mINP).

    Gallery entries with the query's identity and camera are removed; CMC counts the first
    match; AP averages precision at each match in ranked order (no tie grouping); INP is
    (#matches) / (1 + position of the last match).
    """
    d, qi, gi, qc, gc = _prepare(distmat, q_ids, g_ids, q_cams, g_cams)
    hist = np.zeros(max_rank)
    ap_sum = inp_sum = 0.0
    num_valid = 0
    for i, match, valid in _blocks(d, qi, gi, qc, gc):
        num_valid += 1
        before = _match_positions(d[i], match, valid)[0]
        if before[0] < max_rank:
            hist[before[0]] += 1
        k = len(before)
        ap_sum += float(np.mean(np.arange(1, k + 1) / (before + 1.0)))
        inp_sum += k / (before[-1] + 1.0)
    if num_valid == 0:
        raise MetricError("evaluate_market: no query has a valid gallery match")
    return np.cumsum(hist) / num_valid, ap_sum / num_valid, inp_sum / num_valid
