"""Comparison of runs: a Markdown and CSV table of rank-1/5/10/20, mAP and mINP, a rank-1
"transfer" headline per run, and one CMC plot (like the thesis' Tables 3.2-3.4 and Figure
3.3e). Values are percentages.

Runs of several splits (a multi-split ``RUN`` with ``RUN/split-NN``, or split runs of the same
config given one by one) are aggregated into one row per test entry, mean ± std over the
splits; the CSV also keeps one row per split (column ``split``).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from synthreid.benchmark import runs, splits
from synthreid.fsutil import write_text
from synthreid.plots import pyplot, save_png

RANK_COLS = ("rank1", "rank5", "rank10", "rank20")
VALUE_COLS = (*RANK_COLS, "mAP", "mINP")
COLUMNS = ("run", "test", "protocol", *VALUE_COLS, "best_epoch", "splits")
CSV_COLUMNS = (*COLUMNS, "split", *(c + "_std" for c in VALUE_COLS))


def _row(name: str, key: str, m: dict, split=None) -> dict:
    row = {
        "run": name,
        "test": m.get("dataset", key),
        "protocol": m.get("protocol", ""),
        "key": key,
        "best_epoch": m.get("best_epoch"),
        "cmc": m["cmc"],
        "splits": m.get("splits"),
        "split": split,
        "cmc_std": m.get("cmc_std"),
    }
    for k in VALUE_COLS:
        row[k] = 100.0 * m[k] if m.get(k) is not None else None
        row[k + "_std"] = 100.0 * m[k + "_std"] if m.get(k + "_std") is not None else None
    return row


def _group_key(config: dict) -> str:
    skip = runs.RESUMABLE | splits.SPLIT_FIELDS
    return json.dumps({k: v for k, v in config.items() if k not in skip}, sort_keys=True)


def groups(run_dirs) -> list[tuple[str, list[tuple[int | None, Path]]]]:
    """(name, [(split id or None, run dir)]) in the order given; split runs of one config merge.

    A multi-split parent expands to its split runs. Single runs with the same config and distinct
    split ids form one group named after their common parent folder (else the first run).
    """
    out: list[tuple[str, list[tuple[int | None, Path]]]] = []
    by_key: dict[str, int] = {}
    for rd in map(Path, run_dirs):
        config = runs.load_config(rd)  # fails clearly when rd is not a run
        if config.get("splits"):
            members: list[tuple[int | None, Path]] = [*splits.members(rd)]
            if not members:
                raise runs.RunError(f"{rd}: multi-split run without split runs yet")
            out.append((rd.name, members))
            continue
        key = _group_key(config)
        sid = config.get("split_id")
        g = by_key.get(key)
        if g is not None and sid not in [s for s, _ in out[g][1]]:
            out[g][1].append((sid, rd))
            continue
        by_key[key] = len(out)
        out.append((rd.name, [(sid, rd)]))
    named: list[tuple[str, list[tuple[int | None, Path]]]] = []
    for name, members in out:
        parents = {d.parent for _, d in members}
        if len(members) > 1 and len(parents) == 1 and members[0][1].name.startswith("split-"):
            name = next(iter(parents)).name
        named.append((name, members))
    return named


def collect(run_dirs) -> tuple[list[dict], list[dict]]:
    """(summary rows, CSV rows): one summary row per (run or split group, test entry); the CSV
    rows add one row per split. RunError when a run has no metrics yet."""
    summary, detail = [], []
    for name, members in groups(run_dirs):
        per_split = []
        for sid, rd in members:
            m = runs.load_metrics(rd)
            if not m:
                raise runs.RunError(f"{rd}: no test results (run `synthreid benchmark eval {rd} --test DS`)")
            per_split.append((sid, rd, m))
        if len(members) == 1:
            rows = [_row(name, k, v) for k, v in sorted(per_split[0][2].items())]
            summary += rows
            detail += rows
            continue
        agg = splits.aggregate_metrics([m for _, _, m in per_split])
        if not agg:
            raise runs.RunError(f"{name}: the split runs share no test entry")
        for key in sorted(agg):
            row = _row(name, key, agg[key])
            summary.append(row)
            detail.append(row)
            detail += [
                {**_row(name, key, m[key], split=sid), "splits": None} for sid, _, m in per_split if key in m
            ]
    return summary, detail


def _fmt(row, k) -> str:
    v = row.get(k)
    if v is None:
        return "-"
    if isinstance(v, float):
        std = row.get(k + "_std")
        return f"{v:.1f} ± {std:.1f}" if std is not None else f"{v:.1f}"
    return str(v)


def markdown(rows) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r, c) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def headlines(rows) -> str:
    """One line per run: its rank-1 transfer score on each test entry."""
    by_run: dict[str, list[str]] = {}
    for r in rows:
        extra = f", {r['splits']} splits" if r.get("splits") else ""
        by_run.setdefault(r["run"], []).append(f"{_fmt(r, 'rank1')} on {r['test']} ({r['protocol']}{extra})")
    return "".join(f"- **{run}**: rank-1 {'; '.join(parts)}\n" for run, parts in by_run.items())


def to_csv(rows) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({c: (f"{r[c]:.4f}" if isinstance(r.get(c), float) else r.get(c)) for c in CSV_COLUMNS})
    return buf.getvalue()


def plot_cmc(rows, path: Path, max_rank: int = 20) -> None:
    """CMC curves of ranks 1..max_rank; legend outside the axes, so ~10 curves stay readable
    (10 colours, then the line style changes)."""
    plt = pyplot()

    styles = ("-", "--", "-.", ":")
    markers = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
    colours = plt.get_cmap("tab10").colors
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    for i, r in enumerate(rows):
        cmc = [100 * v for v in r["cmc"][:max_rank]]
        ranks = range(1, len(cmc) + 1)
        spread = f", {r['splits']} splits" if r.get("splits") else ""
        ax.plot(
            ranks,
            cmc,
            color=colours[i % 10],
            linestyle=styles[(i // 10) % len(styles)],
            marker=markers[i % len(markers)],
            markersize=3.5,
            markevery=max(1, len(cmc) // 10),
            label=f"{r['run']} / {r['test']} ({r['protocol']}{spread}): r1 {cmc[0]:.1f}",
        )
        if r.get("splits") and r.get("cmc_std"):
            lo = [c - 100 * s for c, s in zip(cmc, r["cmc_std"], strict=False)]
            hi = [c + 100 * s for c, s in zip(cmc, r["cmc_std"], strict=False)]
            ax.fill_between(ranks, lo, hi, color=colours[i % 10], alpha=0.12, linewidth=0)
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.set_xlim(1, max_rank)
    ax.set_ylim(0, 100)
    if max_rank <= 25:
        ax.set_xticks(range(1, max_rank + 1))
    ax.grid(alpha=0.3)
    # legend top-down by rank-1, the order in which the curves start
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(rows)), key=lambda i: -rows[i]["cmc"][0])
    ax.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        fontsize=7.5,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0,
        frameon=False,
    )
    ax.set_title("CMC")
    save_png(fig, path, dpi=110, bbox_inches="tight")


def make_report(run_dirs, out: str | Path, max_rank: int = 20) -> dict[str, Path]:
    """Write report.md, report.csv and cmc.png into ``out``; returns their paths."""
    if max_rank < 1:
        raise runs.RunError(f"max_rank: expected >= 1, got {max_rank}")
    rows, detail = collect(run_dirs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "report.md", "csv": out / "report.csv", "png": out / "cmc.png"}
    write_text(
        paths["md"],
        "# Re-ID benchmark\n\n## Transfer (rank-1, %)\n\n"
        + headlines(rows)
        + "\n## Results\n\nCMC matching rates, mAP and mINP in %; ± is the spread over thesis draws "
        "or over splits.\n\n" + markdown(rows),
    )
    write_text(paths["csv"], to_csv(detail))
    plot_cmc(rows, paths["png"], max_rank)
    return paths
