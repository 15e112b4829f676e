"""Register synthreid datasets as torchreid image datasets.

::

    import torchreid
    from synthreid.integrations import torchreid as sr_torchreid

    name = sr_torchreid.register("datasets/IV")      # -> "synthreid:datasets/IV"
    dm = torchreid.data.ImageDataManager(root="unused", sources=name, height=256, width=128)

``register()`` without a folder registers the name ``synthreid``, whose dataset folder is
torchreid's ``root`` (or ``root/synthreid``). Works with the original torchreid
(KaiyangZhou/deep-person-reid: ``torchreid.data``) and with the PyPI package ``torchreid`` 0.2.5
(``torchreid.reid.data``). Lists, ids and cameras: :mod:`synthreid.integrations.reidlists`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from synthreid.errors import SynthreidError
from synthreid.integrations.names import DEFAULT_NAME, Registrations
from synthreid.integrations.reidlists import load_lists, resolve_root

_registered = Registrations("torchreid", "the root argument")


def api():
    """torchreid's top-level API: ``torchreid`` (GitHub deep-person-reid) or ``torchreid.reid`` (the
    PyPI package 0.2.5); both have ``data``, ``models``, ``optim``, ``engine``."""
    for mod in ("torchreid", "torchreid.reid"):
        try:
            top = importlib.import_module(mod)
            data = importlib.import_module(f"{mod}.data")
        except ImportError as exc:
            missing = getattr(exc, "name", None) or ""
            if missing.split(".")[0] != "torchreid":  # torchreid is there but one of its imports is not
                raise SynthreidError(
                    f"torchreid is installed but does not import ({exc}); "
                    "pip install -e '.[interop]' installs what it needs"
                ) from exc
            continue
        if hasattr(data, "register_image_dataset") and hasattr(data, "ImageDataset"):
            return top
    raise SynthreidError(
        "torchreid is not installed: pip install -e '.[interop]' (or torchreid from "
        "https://github.com/KaiyangZhou/deep-person-reid)"
    )


def data_module():
    """torchreid's data module (``torchreid.data`` or the PyPI package's ``torchreid.reid.data``)."""
    return api().data


def dataset_class(
    folder: str | Path | None = None,
    format: str | None = None,
    subdir: str = DEFAULT_NAME,
    skip_bad: bool = False,
):
    """A ``torchreid`` ImageDataset subclass reading ``folder`` (or torchreid's ``root`` when None)."""
    data = data_module()

    class SynthreidImageDataset(data.ImageDataset):
        """A synthreid dataset folder (any format ``synthreid benchmark`` reads) for torchreid."""

        def __init__(self, root="", split_id=0, **kwargs):
            path = Path(folder) if folder is not None else resolve_root(root, subdir)
            lists = load_lists(path, format=format, split_id=split_id, skip_bad=skip_bad)
            self.synthreid_lists = lists
            self.dataset_dir = str(path)
            self._junk_pids = [] if lists.distractor_pid is None else [lists.distractor_pid]
            for key in ("cuhk03_labeled", "cuhk03_classic_split", "market1501_500k"):
                kwargs.pop(key, None)  # options of torchreid's own datasets
            super().__init__(list(lists.train), list(lists.query), list(lists.gallery), **kwargs)

    return SynthreidImageDataset


def register(
    folder: str | Path | None = None,
    name: str | None = None,
    format: str | None = None,
    skip_bad: bool = False,
) -> str:
    """Register a dataset with torchreid; returns the name to pass as ``sources``/``targets``.

    ``folder``: a dataset folder (name ``synthreid:FOLDER`` unless ``name`` is given); None
    registers ``name`` (default ``synthreid``) reading torchreid's ``root`` argument, or
    ``root/<name>``. ``format``: force a format (default: detected). Registering the same name
    again with the same folder is a no-op; with another folder it is an error.
    """
    claim = _registered.claim(folder, name, format)
    if claim.done:
        return claim.name
    data = data_module()
    cls = dataset_class(
        claim.folder, format, subdir=claim.name if folder is None else DEFAULT_NAME, skip_bad=skip_bad
    )
    try:
        data.register_image_dataset(claim.name, cls)
    except ValueError as exc:  # torchreid refuses names it already has
        raise _registered.refused(claim) from exc
    return _registered.added(claim)
