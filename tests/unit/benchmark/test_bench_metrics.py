"""Metrics: hand-worked examples and agreement with a plain per-query loop."""

import numpy as np
import pytest

from synthreid.benchmark import metrics
from synthreid.benchmark.metrics import CMC_CONFIGS, MetricError, cmc, evaluate_market, mean_ap

# ---------------------------------------------------------------- plain per-query references


def loop_cmc(d, qi, gi, qc, gc, topk, separate_camera_set, single_gallery_shot, first_match_break, keys=None):
    m, n = d.shape
    ret = np.zeros(topk)
    nv = 0
    for i in range(m):
        order = np.argsort(d[i], kind="stable")
        valid = [(gi[j] != qi[i]) or (gc[j] != qc[i]) for j in order]
        if separate_camera_set:
            valid = [v and gc[j] != qc[i] for v, j in zip(valid, order, strict=True)]
        kept = [j for v, j in zip(valid, order, strict=True) if v]
        if not any(gi[j] == qi[i] for j in kept):
            continue
        nv += 1
        if single_gallery_shot:
            for rep in range(metrics.SGS_REPEAT):
                k = keys[rep][i]
                best = {}
                for j in kept:
                    if gi[j] not in best or k[j] > k[best[gi[j]]]:
                        best[gi[j]] = j
                chosen = [j for j in kept if best[gi[j]] == j]
                r = next(p for p, j in enumerate(chosen) if gi[j] == qi[i])
                if r < topk:
                    ret[r] += 1 / metrics.SGS_REPEAT
            continue
        hits = [p for p, j in enumerate(kept) if gi[j] == qi[i]]
        for cnt, p in enumerate(hits):
            r = p - cnt
            if r >= topk:
                break
            if first_match_break:
                ret[r] += 1
                break
            ret[r] += 1 / len(hits)
    return np.cumsum(ret) / nv


def loop_ap(y_true, y_score):
    """sklearn's average_precision_score: precision at each distinct score threshold."""
    thresholds = sorted(set(y_score), reverse=True)
    npos = sum(y_true)
    ap, prev_tp = 0.0, 0
    for t in thresholds:
        sel = [yt for yt, s in zip(y_true, y_score, strict=True) if s >= t]
        tp = sum(sel)
        ap += (tp - prev_tp) / npos * (tp / len(sel))
        prev_tp = tp
    return ap


def loop_map(d, qi, gi, qc, gc):
    aps = []
    for i in range(d.shape[0]):
        keep = [j for j in range(d.shape[1]) if gi[j] != qi[i] or gc[j] != qc[i]]
        y = [int(gi[j] == qi[i]) for j in keep]
        if sum(y):
            aps.append(loop_ap(y, [-d[i, j] for j in keep]))
    return np.mean(aps)


def loop_market(d, qi, gi, qc, gc, max_rank):
    hist, aps, inps, nv = np.zeros(max_rank), [], [], 0
    for i in range(d.shape[0]):
        order = np.argsort(d[i], kind="stable")
        kept = [j for j in order if not (gi[j] == qi[i] and gc[j] == qc[i])]
        m = np.array([gi[j] == qi[i] for j in kept], dtype=float)
        if not m.any():
            continue
        nv += 1
        first = int(np.argmax(m))
        if first < max_rank:
            hist[first] += 1
        tp = np.cumsum(m)
        aps.append(sum(tp[p] / (p + 1) for p in range(len(m)) if m[p]) / m.sum())
        last = max(p for p in range(len(m)) if m[p])
        inps.append(m.sum() / (last + 1))
    return np.cumsum(hist) / nv, np.mean(aps), np.mean(inps)


def random_problem(rng, m=40, n=120, n_ids=15, n_cams=3, levels=6):
    d = rng.integers(0, levels, (m, n)).astype(float)  # few levels -> many ties
    return (
        d,
        rng.integers(0, n_ids, m),
        rng.integers(0, n_ids, n),
        rng.integers(0, n_cams, m),
        rng.integers(0, n_cams, n),
    )


# ---------------------------------------------------------------- hand-worked examples


def test_cmc_defaults_identity_diagonal():
    d = np.array([[0.1, 0.5, 0.9], [0.2, 0.8, 0.3], [0.1, 0.2, 0.3]])
    # query 0 matches gallery 0 at rank 1; query 1 matches gallery 1 after 2 others: rank 3;
    # query 2 matches gallery 2 after 2 others: rank 3.
    np.testing.assert_allclose(cmc(d, topk=3), [1 / 3, 1 / 3, 1.0])


def test_cmc_duplicates_allshots_vs_first_match():
    # One query (id 7, cam 0); gallery ids in distance order: 7(cam1), 3, 7(cam1), 7(cam0, removed)
    d = np.array([[0.1, 0.2, 0.3, 0.05]])
    gi, gc = np.array([7, 3, 7, 7]), np.array([1, 1, 1, 0])
    kw = dict(query_ids=[7], gallery_ids=gi, query_cams=[0], gallery_cams=gc, topk=3)
    # allshots: matches at positions 0 and 2 -> ranks 0 and 1 (one non-match before), 1/2 each.
    np.testing.assert_allclose(cmc(d, **kw, **CMC_CONFIGS["allshots"]), [0.5, 1.0, 1.0])
    np.testing.assert_allclose(cmc(d, **kw, **CMC_CONFIGS["market1501"]), [1.0, 1.0, 1.0])
    # separate cameras drops nothing more here (all kept are cam 1).
    np.testing.assert_allclose(cmc(d, **kw, separate_camera_set=True), [0.5, 1.0, 1.0])


def test_same_camera_removal_and_ties():
    # gallery: id 1 cam 0 (same as query -> removed), id 2, id 1 cam 1 tied with id 2.
    d = np.array([[0.0, 0.5, 0.5]])
    kw = dict(query_ids=[1], gallery_ids=[1, 2, 1], query_cams=[0], gallery_cams=[0, 1, 1])
    # stable sort keeps gallery order among ties: id 2 before the true match -> rank 2.
    np.testing.assert_allclose(cmc(d, **kw, topk=2, first_match_break=True), [0.0, 1.0])
    # AP with ties: the tie group (id2, id1) ends at 2 kept items with 1 hit -> precision 1/2.
    assert mean_ap(d, **kw) == pytest.approx(0.5)
    c, m_ap, m_inp = evaluate_market(d, [1], [1, 2, 1], [0], [0, 1, 1], max_rank=2)
    np.testing.assert_allclose(c, [0.0, 1.0])
    assert m_ap == pytest.approx(0.5) and m_inp == pytest.approx(0.5)


def test_mean_ap_hand_example():
    # ranked kept: hit, miss, hit, miss, hit -> AP = (1/1 + 2/3 + 3/5) / 3
    d = np.array([[1, 2, 3, 4, 5.0]])
    ap = mean_ap(d, [0], [0, 9, 0, 9, 0], [0], [1, 1, 1, 1, 1])
    assert ap == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


def test_single_gallery_shot_one_instance_per_identity():
    # gallery: two instances of id 5 nearer than the true match; sgs keeps one -> rank 2 always.
    d = np.array([[0.1, 0.2, 0.3]])
    kw = dict(query_ids=[1], gallery_ids=[5, 5, 1], query_cams=[0], gallery_cams=[1, 1, 1], topk=3)
    np.testing.assert_allclose(cmc(d, **kw, single_gallery_shot=True), [0.0, 1.0, 1.0])
    np.testing.assert_allclose(cmc(d, **kw), [0.0, 0.0, 1.0])


def test_no_valid_query_and_bad_shapes_raise():
    with pytest.raises(MetricError, match="no query"):
        cmc(np.zeros((1, 1)), [0], [0], [0], [0])
    with pytest.raises(MetricError, match="gallery_ids"):
        mean_ap(np.zeros((2, 3)), [0, 1], [0, 1])


# ---------------------------------------------------------------- vectorised == loop


@pytest.mark.parametrize("config", sorted(CMC_CONFIGS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cmc_matches_loop(config, seed):
    rng = np.random.default_rng(seed)
    d, qi, gi, qc, gc = random_problem(rng)
    kw = CMC_CONFIGS[config]
    keys = None
    if kw["single_gallery_shot"]:
        # The vectorised version draws (block rows, n) keys in ranked order per repeat; give the
        # loop the same numbers mapped back to gallery order.
        krng = np.random.default_rng(42)
        keys = []
        order = np.argsort(d, axis=1, kind="stable")
        for _ in range(metrics.SGS_REPEAT):
            ranked = krng.random(d.shape)
            k = np.empty_like(ranked)
            np.put_along_axis(k, order, ranked, axis=1)
            keys.append(k)
    got = cmc(d, qi, gi, qc, gc, topk=20, rng=np.random.default_rng(42), **kw)
    want = loop_cmc(d, qi, gi, qc, gc, 20, keys=keys, **kw)
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_map_and_market_match_loop(seed):
    rng = np.random.default_rng(seed)
    d, qi, gi, qc, gc = random_problem(rng, levels=4 + seed)
    assert mean_ap(d, qi, gi, qc, gc) == pytest.approx(loop_map(d, qi, gi, qc, gc), abs=1e-12)
    got = evaluate_market(d, qi, gi, qc, gc, max_rank=30)
    want = loop_market(d, qi, gi, qc, gc, 30)
    np.testing.assert_allclose(got[0], want[0], atol=1e-12)
    assert got[1] == pytest.approx(want[1], abs=1e-12) and got[2] == pytest.approx(want[2], abs=1e-12)


def test_blocks_do_not_change_results(monkeypatch):
    rng = np.random.default_rng(5)
    d, qi, gi, qc, gc = random_problem(rng, m=70)
    full = (cmc(d, qi, gi, qc, gc, topk=10), mean_ap(d, qi, gi, qc, gc))
    monkeypatch.setattr(metrics, "BLOCK_ROWS", 16)
    np.testing.assert_allclose(cmc(d, qi, gi, qc, gc, topk=10), full[0])
    assert mean_ap(d, qi, gi, qc, gc) == pytest.approx(full[1])
