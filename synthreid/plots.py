"""Matplotlib without a display, and figures written atomically as PNG (shared by every package)."""

from __future__ import annotations

from pathlib import Path

from synthreid.fsutil import atomic_path


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (imported on first use: slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | Path, dpi: int = 100, **kwargs) -> None:
    """Write ``fig`` to ``path`` as PNG (temp file + rename) and free it."""
    plt = pyplot()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, **kwargs)
    finally:
        plt.close(fig)
