"""Re-ID ranking metrics, vectorised numpy (Open-ReID and Market-1501 semantics).

All functions take a distance matrix ``distmat`` of shape (num_query, num_gallery), smaller =
more similar. Rows are sorted with a *stable* sort, so ties keep gallery order (Open-ReID
uses an unstable quicksort; stable makes results reproducible). Work is done in blocks of
query rows so Market-sized matrices (3,368 x 15,913) stay within a few hundred MB.

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
    for name, arr, size in (("query_ids", qi, m), ("gallery_ids", gi, n),
                            ("query_cams", qc, m), ("gallery_cams", gc, n)):
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


def cmc(distmat, query_ids=None, gallery_ids=None, query_cams=None, gallery_cams=None, topk=100,
        separate_camera_set=False, single_gallery_shot=False, first_match_break=False, rng=None):
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
    for start in range(0, m, BLOCK_ROWS):
        rows = np.arange(start, min(m, start + BLOCK_ROWS))
        _, g_ids, match, valid = _ranked_block(d, qi, gi, qc, gc, rows, separate_camera_set)
        has = match.any(axis=1)
        num_valid += int(has.sum())
        if single_gallery_shot:
            ret += _sgs_hist(g_ids, match, valid, has, topk, rng)
            continue
        # Rank of a match = number of valid non-matches ranked before it.
        rank = np.cumsum(valid & ~match, axis=1)
        if first_match_break:
            first = np.argmax(match, axis=1)
            r = rank[np.arange(len(rows)), first][has]
            ret += np.bincount(r[r < topk], minlength=topk)[:topk]
        else:
            w = 1.0 / np.maximum(match.sum(axis=1), 1)
            r = rank[match]
            ww = np.broadcast_to(w[:, None], match.shape)[match]
            keep = r < topk
            ret += np.bincount(r[keep], weights=ww[keep], minlength=topk)[:topk]
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


def _average_precision(d_sorted, match, valid):
    """Per-row AP with sklearn's tie handling (precision taken at the end of each tie group)."""
    b, n = match.shape
    tp = np.cumsum(match, axis=1)
    nvalid = np.cumsum(valid, axis=1)
    run_end = np.ones((b, n), dtype=bool)
    run_end[:, :-1] = d_sorted[:, :-1] != d_sorted[:, 1:]
    # Index of the end of each position's tie group: reverse running minimum of end positions.
    ends = np.where(run_end, np.arange(n)[None, :], n - 1)
    ends = np.minimum.accumulate(ends[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(b)[:, None]
    prec = tp[rows, ends] / np.maximum(nvalid[rows, ends], 1)
    npos = match.sum(axis=1)
    return (prec * match).sum(axis=1) / np.maximum(npos, 1), npos > 0


def mean_ap(distmat, query_ids=None, gallery_ids=None, query_cams=None, gallery_cams=None):
    """Mean average precision, Open-ReID semantics (same identity + camera ignored, sklearn AP)."""
    d, qi, gi, qc, gc = _prepare(distmat, query_ids, gallery_ids, query_cams, gallery_cams)
    aps = []
    for start in range(0, d.shape[0], BLOCK_ROWS):
        rows = np.arange(start, min(d.shape[0], start + BLOCK_ROWS))
        order, _, match, valid = _ranked_block(d, qi, gi, qc, gc, rows)
        ap, ok = _average_precision(np.take_along_axis(d[rows], order, axis=1), match, valid)
        aps.append(ap[ok])
    aps = np.concatenate(aps) if aps else np.zeros(0)
    if aps.size == 0:
        raise MetricError("mean_ap: no query has a valid gallery match")
    return float(aps.mean())


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
    for start in range(0, d.shape[0], BLOCK_ROWS):
        rows = np.arange(start, min(d.shape[0], start + BLOCK_ROWS))
        _, _, match, valid = _ranked_block(d, qi, gi, qc, gc, rows)
        has = match.any(axis=1)
        match, valid = match[has], valid[has]
        if not has.any():
            continue
        num_valid += int(has.sum())
        pos = np.cumsum(valid, axis=1) - 1  # position among kept entries
        first = np.argmax(match, axis=1)
        r = pos[np.arange(len(match)), first]
        hist += np.bincount(r[r < max_rank], minlength=max_rank)[:max_rank]
        tp = np.cumsum(match, axis=1)
        npos = match.sum(axis=1)
        ap_sum += float((((tp / np.maximum(pos + 1.0, 1.0)) * match).sum(axis=1) / npos).sum())
        last = match.shape[1] - 1 - np.argmax(match[:, ::-1], axis=1)
        inp_sum += float((npos / (pos[np.arange(len(match)), last] + 1.0)).sum())
    if num_valid == 0:
        raise MetricError("evaluate_market: no query has a valid gallery match")
    return np.cumsum(hist) / num_valid, ap_sum / num_valid, inp_sum / num_valid
