"""Comparison of runs: a Markdown and CSV table of rank-1/5/10/20 and mAP, and one CMC plot
(like the thesis' Tables 3.2-3.4 and Figure 3.3e). Values are percentages."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from synthreid.benchmark import runs
from synthreid.fsutil import atomic_path, write_text

COLUMNS = ("run", "test", "protocol", "rank1", "rank5", "rank10", "rank20", "mAP", "best_epoch")


def collect(run_dirs) -> list[dict]:
    """One row per (run, test result); RunError when a run has no metrics yet."""
    rows = []
    for rd in map(Path, run_dirs):
        runs.load_config(rd)  # fails clearly when rd is not a run
        metrics = runs.load_metrics(rd)
        if not metrics:
            raise runs.RunError(f"{rd}: no test results (run `synthreid benchmark eval {rd} --test DS`)")
        for key in sorted(metrics):
            m = metrics[key]
            row = {"run": rd.name, "test": m.get("dataset", key), "protocol": m.get("protocol", ""),
                   "best_epoch": m.get("best_epoch"), "cmc": m["cmc"], "key": key}
            for k in ("rank1", "rank5", "rank10", "rank20"):
                row[k] = 100.0 * m[k]
                row[k + "_std"] = 100.0 * m[k + "_std"] if m.get(k + "_std") is not None else None
            row["mAP"] = 100.0 * m["mAP"] if m.get("mAP") is not None else None
            rows.append(row)
    return rows


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


def to_csv(rows) -> str:
    buf = io.StringIO()
    cols = [*COLUMNS, "rank1_std", "rank5_std", "rank10_std", "rank20_std"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({c: (f"{r[c]:.4f}" if isinstance(r.get(c), float) else r.get(c)) for c in cols})
    return buf.getvalue()


def plot_cmc(rows, path: Path, max_rank: int = 50) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for r in rows:
        cmc = r["cmc"][:max_rank]
        ax.plot(range(1, len(cmc) + 1), [100 * v for v in cmc], label=f"{r['run']} / {r['test']} ({r['protocol']})")
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("CMC")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def make_report(run_dirs, out: str | Path, max_rank: int = 50) -> dict[str, Path]:
    """Write report.md, report.csv and cmc.png into ``out``; returns their paths."""
    rows = collect(run_dirs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "report.md", "csv": out / "report.csv", "png": out / "cmc.png"}
    write_text(paths["md"], "# Re-ID benchmark\n\nCMC matching rates and mAP in %.\n\n" + markdown(rows))
    write_text(paths["csv"], to_csv(rows))
    plot_cmc(rows, paths["png"], max_rank)
    return paths
