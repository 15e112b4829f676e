"""Register synthreid datasets as fast-reid datasets (``fastreid.data.datasets.DATASET_REGISTRY``).

::

    from synthreid.integrations import fastreid as sr_fastreid

    name = sr_fastreid.register("datasets/IV")       # -> "synthreid:datasets/IV"
    cfg.DATASETS.NAMES = (name,)
    cfg.DATASETS.TESTS = (name,)

``register()`` without a folder registers ``synthreid``, whose folder is fast-reid's dataset
root (``$FASTREID_DATASETS``, default ``datasets``) or ``root/synthreid``. Items follow
fast-reid's convention: train person and camera ids are strings prefixed with the dataset name
(fast-reid relabels them when it combines datasets), query/gallery ids are integers.

fast-reid's ``fastreid.data`` imports ``collections.Mapping`` (removed in Python 3.10), and its
PyPI package (1.4.0) also ``torch._six`` (removed in torch 2.0) and pins torch 1.13.1; on our
Python 3.11 it needs a fast-reid whose imports are fixed (see docs/interop.md).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from synthreid.errors import SynthreidError
from synthreid.integrations.names import DEFAULT_NAME, Registrations
from synthreid.integrations.reidlists import ReidLists, load_lists, resolve_root

_registered = Registrations("fast-reid", "the dataset root")


def datasets_module():
    """``fastreid.data.datasets`` (DATASET_REGISTRY and the ``bases`` module)."""
    try:
        mod = importlib.import_module("fastreid.data.datasets")
        importlib.import_module("fastreid.data.datasets.bases")
    except ImportError as exc:
        if (getattr(exc, "name", None) or "").split(".")[0] == "fastreid":
            raise SynthreidError(
                "fast-reid is not installed (see docs/interop.md: "
                "pip install --no-deps fastreid yacs tabulate termcolor)"
            ) from exc
        raise SynthreidError(
            f"fast-reid is installed but fastreid.data does not import ({exc}); on "
            "Python >= 3.10 / torch >= 2 it needs the import fixes in docs/interop.md"
        ) from exc
    return mod


def fastreid_items(lists: ReidLists, dataset_name: str) -> tuple[list, list, list]:
    """(train, query, gallery) in fast-reid's convention: train ids ``f"{dataset_name}_{id}"``."""
    train = [(p, f"{dataset_name}_{pid}", f"{dataset_name}_{cam}") for p, pid, cam in lists.train]
    return train, list(lists.query), list(lists.gallery)


def dataset_class(
    name: str,
    folder: str | Path | None = None,
    format: str | None = None,
    subdir: str = DEFAULT_NAME,
    skip_bad: bool = False,
):
    """A fast-reid ImageDataset subclass named ``name`` reading ``folder`` (or fast-reid's root)."""
    bases = importlib.import_module("fastreid.data.datasets.bases")

    def __init__(self, root="datasets", split_id=0, **kwargs):
        path = Path(folder) if folder is not None else resolve_root(root, subdir)
        lists = load_lists(path, format=format, split_id=split_id, skip_bad=skip_bad)
        self.synthreid_lists = lists
        self.root = self.dataset_dir = str(path)
        self._junk_pids = [] if lists.distractor_pid is None else [lists.distractor_pid]
        train, query, gallery = fastreid_items(lists, self.dataset_name)
        bases.ImageDataset.__init__(self, train, query, gallery, **kwargs)

    # fast-reid's registry keys a class by its __name__, which becomes the config's dataset name
    return type(
        name,
        (bases.ImageDataset,),
        {
            "__init__": __init__,
            "dataset_name": name,
            "_junk_pids": [],
            "__doc__": "A synthreid dataset folder (any format synthreid benchmark reads) for fast-reid.",
            "__module__": __name__,
        },
    )


def register(
    folder: str | Path | None = None,
    name: str | None = None,
    format: str | None = None,
    skip_bad: bool = False,
) -> str:
    """Register a dataset in fast-reid's DATASET_REGISTRY; returns the name for
    ``cfg.DATASETS.NAMES`` / ``cfg.DATASETS.TESTS``.

    ``folder``: a dataset folder (name ``synthreid:FOLDER`` unless ``name`` is given); None
    registers ``name`` (default ``synthreid``) reading fast-reid's root or ``root/<name>``.
    Registering the same name again with the same folder is a no-op; with another, an error.
    """
    claim = _registered.claim(folder, name, format)
    if claim.done:
        return claim.name
    registry = datasets_module().DATASET_REGISTRY
    cls = dataset_class(
        claim.name,
        claim.folder,
        format,
        subdir=claim.name if folder is None else DEFAULT_NAME,
        skip_bad=skip_bad,
    )
    try:
        registry.register(cls)
    except (AssertionError, KeyError, ValueError) as exc:  # fast-reid asserts that names are new
        raise _registered.refused(claim) from exc
    return _registered.added(claim)
