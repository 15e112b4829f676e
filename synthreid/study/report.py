"""The study report: ``report.md``, ``report.csv`` (mean ± spread per arm and test set),
``seeds.csv`` (one row per seed), ``timing.csv``, one CMC plot per test set
(``cmc-<test>.png``) and a bar chart of rank-1 and mAP per arm (``bars.png``).

Values are percentages. Arms are aggregated over seeds (mean ± sample standard deviation);
the chance row over its random draws. Every arm is listed, including those that lose.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from synthreid.fsutil import write_text
from synthreid.plots import pyplot, save_png

VALUES = ("rank1", "rank5", "rank10", "mAP", "mINP")
HEADERS = {"rank1": "rank-1", "rank5": "rank-5", "rank10": "rank-10", "mAP": "mAP", "mINP": "mINP"}
BASELINE_ORDER = ("untrained", "handcrafted", "chance")


def _pct(v):
    return None if v is None else 100.0 * float(v)


def _aggregate(name: str, role: str, test, results: list[dict], seeds: list) -> dict:
    row = {
        "name": name,
        "role": role,
        "test": test.name,
        "protocol": results[0].get("protocol", test.protocol),
        "n": len(results),
        "seeds": seeds,
        "cmc": (100.0 * np.mean([r["cmc"] for r in results], axis=0)).tolist(),
    }
    for k in VALUES:
        vals = [r[k] for r in results if r.get(k) is not None]
        if not vals:
            row[k] = row[f"{k}_std"] = None
            continue
        row[k] = _pct(np.mean(vals))
        if len(vals) > 1:
            row[f"{k}_std"] = _pct(np.std(vals, ddof=1))
        else:  # one run: the spread it carries itself (chance draws, thesis draws), if any
            row[f"{k}_std"] = _pct(results[0].get(f"{k}_std"))
    return row


def collect(spec, outcome) -> tuple[list[dict], list[dict]]:
    """(rows, per-seed rows): one row per (arm or baseline, test set), arms in file order, then
    anchors, then baselines."""
    rows, per_seed = [], []
    by = {}
    for s in outcome.steps:
        rec = outcome.records.get((s.stage, s.key))
        if rec is not None and s.stage in ("evaluate", "chance", "untrained", "handcrafted"):
            by.setdefault((s.stage, s.arm, s.test), []).append((s.seed, rec["result"]))
    arms = [a for a in spec.arms if not a.anchor] + [a for a in spec.arms if a.anchor]
    for t in spec.test_sets:
        entries = [
            (a.name, "anchor" if a.anchor else "arm", by.get(("evaluate", a.name, t.name), [])) for a in arms
        ]
        for stage in BASELINE_ORDER:
            for (st, name, test), res in by.items():
                if st == stage and test == t.name:
                    entries.append((name, "baseline", res))
        for name, role, res in entries:
            if not res:
                continue
            res = sorted(res, key=lambda sr: -1 if sr[0] is None else sr[0])
            rows.append(_aggregate(name, role, t, [r for _, r in res], [s for s, _ in res]))
            for seed, r in res:
                per_seed.append(
                    {
                        "test": t.name,
                        "name": name,
                        "role": role,
                        "seed": seed,
                        **{k: _pct(r.get(k)) for k in VALUES},
                    }
                )
    return rows, per_seed


def _cell(row, k) -> str:
    v = row.get(k)
    if v is None:
        return "-"
    std = row.get(f"{k}_std")
    return f"{v:.1f} ± {std:.1f}" if std is not None else f"{v:.1f}"


def timing(spec, outcome) -> list[dict]:
    """Wall time per (arm, stage): each cached step counted once, under the first arm that uses it."""
    executed = {(s.stage, s.key) for s in outcome.executed}
    seen, out = set(), {}
    for s in outcome.steps:
        sid = (s.stage, s.key)
        rec = outcome.records.get(sid)
        if sid in seen or rec is None:
            continue
        seen.add(sid)
        arm = "baselines" if s.role == "baseline" else s.arm
        t = out.setdefault(
            (arm, s.stage),
            {"arm": arm, "stage": s.stage, "steps": 0, "seconds": 0.0, "images": 0.0, "run_now": 0},
        )
        t["steps"] += 1
        t["seconds"] += float(rec.get("seconds", 0.0))
        t["images"] += float(rec.get("units", 0.0))
        t["run_now"] += sid in executed
    rows = list(out.values())
    for r in rows:
        r["images_per_s"] = r["images"] / r["seconds"] if r["seconds"] > 0 else None
    return rows


def _csv(rows, columns) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({c: (f"{r[c]:.4f}" if isinstance(r.get(c), float) else r.get(c)) for c in columns})
    return buf.getvalue()


def plot_cmc(rows: list[dict], title: str, path: Path, max_rank: int = 20) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    colours = plt.get_cmap("tab10").colors
    styles = {"arm": "-", "anchor": "-", "baseline": "--"}
    for i, r in enumerate(sorted(rows, key=lambda r: -r["cmc"][0])):
        cmc = r["cmc"][:max_rank]
        ax.plot(
            range(1, len(cmc) + 1),
            cmc,
            linestyle=styles[r["role"]],
            color=colours[i % 10],
            linewidth=2.2 if r["role"] == "anchor" else 1.4,
            marker="o",
            markersize=2.5,
            label=f"{r['name']} ({r['role']}): r1 {cmc[0]:.1f}",
        )
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.set_xlim(1, max_rank)
    ax.set_xticks([1, *range(5, max_rank + 1, 5)])
    # real cross-camera scores are low: the axis ends just above the highest curve, not at 100
    top = max((max(r["cmc"][:max_rank]) for r in rows), default=100.0)
    ax.set_ylim(0, min(100.0, max(10.0, 1.1 * top + 2)))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.set_title(title)
    save_png(fig, path, dpi=110, bbox_inches="tight")


def plot_bars(rows: list[dict], tests: list[str], path: Path) -> None:
    """Rank-1 and mAP per arm/baseline, one bar per test set, error bars = the rows' spread."""
    plt = pyplot()
    names = list(dict.fromkeys(r["name"] for r in rows))
    fig, axes = plt.subplots(
        2, 1, figsize=(max(7.0, 0.9 * len(names) * max(1, len(tests)) / 2 + 3), 7.5), sharex=True
    )
    width = 0.8 / max(1, len(tests))
    x = np.arange(len(names))
    for ax, key, label in ((axes[0], "rank1", "rank-1 (%)"), (axes[1], "mAP", "mAP (%)")):
        for j, t in enumerate(tests):
            by = {r["name"]: r for r in rows if r["test"] == t}
            vals = [by[n][key] if n in by and by[n][key] is not None else np.nan for n in names]
            errs = [by[n].get(f"{key}_std") or 0.0 if n in by else 0.0 for n in names]
            lower = [min(e, v) if v == v else 0.0 for e, v in zip(errs, vals, strict=True)]  # not below 0 %
            ax.bar(
                x + (j - (len(tests) - 1) / 2) * width, vals, width, yerr=[lower, errs], capsize=2, label=t
            )
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, title="test set")
    axes[1].set_xticks(x)
    axes[1].set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    axes[0].set_title("rank-1 and mAP per arm (mean ± spread over seeds)")
    save_png(fig, path, dpi=110, bbox_inches="tight")


def _summary(rows, t) -> list[str]:
    arms = [r for r in rows if r["test"] == t.name and r["role"] == "arm"]
    anchors = [r for r in rows if r["test"] == t.name and r["role"] == "anchor"]
    base = {r["name"]: r for r in rows if r["test"] == t.name and r["role"] == "baseline"}
    lines = []
    if arms:
        best = max(arms, key=lambda r: r["rank1"])
        lines.append(
            f"- best arm: **{best['name']}**, rank-1 {_cell(best, 'rank1')}, mAP {_cell(best, 'mAP')}"
        )
        own = [a for a in anchors if a["name"] == f"real-{t.name}"] or anchors
        if own:
            a = own[0]
            lines.append(
                f"- real-trained anchor **{a['name']}**: rank-1 {_cell(a, 'rank1')}; the best arm "
                f"{'trails it by' if best['rank1'] < a['rank1'] else 'beats it by'} "
                f"{abs(a['rank1'] - best['rank1']):.1f} points of rank-1"
            )
        chance = next((r for n, r in base.items() if n == "chance"), None)
        if chance is not None:
            low = [r["name"] for r in arms if r["rank1"] <= chance["rank1"] + (chance.get("rank1_std") or 0)]
            if low:
                lines.append(f"- at chance level (rank-1 within one spread of chance): {', '.join(low)}")
        for r in arms:
            worse = [n for n, b in base.items() if n != "chance" and r["rank1"] < b["rank1"]]
            if worse:
                lines.append(f"- {r['name']} loses to the {', '.join(worse)} baseline(s) on rank-1")
    return lines


def write_report(spec, outcome, out: str | Path, clock=None) -> dict:
    """Write every report file into ``out``; returns their paths. ``clock()`` (seconds since the
    study started) is read after the figures, so the overhead line includes them."""
    out = Path(out)
    rows, per_seed = collect(spec, outcome)
    paths = {
        "md": out / "report.md",
        "csv": out / "report.csv",
        "seeds_csv": out / "seeds.csv",
        "timing_csv": out / "timing.csv",
        "bars": out / "bars.png",
    }
    for t in spec.test_sets:
        trows = [r for r in rows if r["test"] == t.name]
        if trows:
            paths[f"cmc:{t.name}"] = out / f"cmc-{t.name}.png"
            plot_cmc(trows, f"CMC on {t.name} ({t.protocol} protocol)", paths[f"cmc:{t.name}"])
    plot_bars(rows, [t.name for t in spec.test_sets], paths["bars"])
    trows = timing(spec, outcome)
    cols = ["test", "protocol", "name", "role", "n"] + [c for k in VALUES for c in (k, f"{k}_std")]
    write_text(paths["csv"], _csv(rows, cols))
    write_text(paths["seeds_csv"], _csv(per_seed, ["test", "name", "role", "seed", *VALUES]))
    write_text(
        paths["timing_csv"],
        _csv(trows, ["arm", "stage", "steps", "seconds", "images", "images_per_s", "run_now"]),
    )
    if clock is not None:
        outcome.wall_seconds = clock()
    write_text(paths["md"], markdown(spec, outcome, rows, trows, paths))
    return paths


def markdown(spec, outcome, rows, trows, paths) -> str:
    seeds = ", ".join(map(str, spec.seeds))
    lines = [
        f"# Study: {spec.name}",
        "",
        f"Study file `{Path(spec.path).name}`, written {datetime.now(UTC).isoformat(timespec='seconds')}. "
        f"Seeds {seeds}; training recipe `{json.dumps(dict(spec.recipe), sort_keys=True)}`"
        + "".join(
            f"; {a.name} overrides `{json.dumps(dict(a.recipe), sort_keys=True)}`"
            for a in spec.arms
            if a.recipe
        )
        + ".",
        "",
        "Values in %: mean ± sample standard deviation over the seeds (chance: over its random "
        "draws). Baselines: **chance** (random features), **untrained** (the recipe's network with "
        "seeded random weights), **hand-crafted** (LOMO-like HSV + LBP stripe histograms), and "
        "**real-<test set>** (the recipe trained on that test set's own real training split, the "
        "upper anchor).",
        "",
    ]
    for t in spec.test_sets:
        trows_t = [r for r in rows if r["test"] == t.name]
        lines += [
            f"## {t.name} ({t.protocol} protocol)",
            "",
            "| " + " | ".join(["arm", "kind", *HEADERS.values(), "runs"]) + " |",
            "|" + "---|" * (len(HEADERS) + 3),
        ]
        for r in trows_t:
            name = f"**{r['name']}**" if r["role"] == "anchor" else r["name"]
            lines.append(
                "| " + " | ".join([name, r["role"], *(_cell(r, k) for k in VALUES), str(r["n"])]) + " |"
            )
        lines += [""] + _summary(rows, t) + [""]
        if f"cmc:{t.name}" in paths:
            lines += [f"![CMC on {t.name}]({paths[f'cmc:{t.name}'].name})", ""]
    lines += [
        "## Rank-1 and mAP per arm",
        "",
        f"![rank-1 and mAP]({paths['bars'].name})",
        "",
        "## Time",
        "",
        "Wall time of each stage per arm: each step's own wall time, summed over its seeds and "
        "test sets (a step shared by arms, e.g. one render refined and unrefined, counts under "
        "the first; steps that ran side by side each count their own time, so a column can add "
        "up to more than the study's wall time below); images/s is one step's throughput "
        "(render: images rendered; refine: training images through the refiner; train: "
        "training images x epochs; evaluate and baselines: test images).",
        "",
        "| arm | stage | steps | wall | images | images/s | run now |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in trows:
        ips = f"{r['images_per_s']:.1f}" if r["images_per_s"] else "-"
        lines.append(
            f"| {r['arm']} | {r['stage']} | {r['steps']} | {r['seconds']:.1f} s | {r['images']:.0f} | "
            f"{ips} | {r['run_now']} |"
        )
    total = sum(r["seconds"] for r in trows)
    ov = outcome.overhead_seconds
    jobs = getattr(outcome, "jobs", 1)
    side = (
        f" with up to {jobs} steps side by side: their own wall times add up to {outcome.work_seconds:.1f} s"
        if jobs > 1
        else ""
    )
    lines += [
        "",
        f"All steps together: {total:.1f} s of work. This run: {len(outcome.executed)} steps executed"
        f"{side}; wall time {outcome.wall_seconds:.1f} s, of which study overhead (time no step was "
        f"running: planning, content keys, cache checks, starting worker processes, this report) "
        f"{ov:.2f} s = {100 * ov / max(outcome.wall_seconds, 1e-9):.1f} %.",
        "",
    ]
    return "\n".join(lines)
