"""Where synthreid keeps data: ``SYNTHREID_DATA_DIR`` (default ``./synthreid-data``)."""

from __future__ import annotations

import os
from pathlib import Path

from synthreid.dataset import check_dataset_name


def data_dir() -> Path:
    return Path(os.environ.get("SYNTHREID_DATA_DIR", "synthreid-data")).expanduser().resolve()


def dataset_dir(name: str) -> Path:
    """The folder of dataset ``name`` under the data directory (name checked: no path escapes)."""
    return data_dir() / "datasets" / check_dataset_name(name)
