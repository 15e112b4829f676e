"""Loading torch checkpoints and weight files without running code from them.

Every ``.pt`` file we read (refiner and benchmark checkpoints, user ``--weights``) goes through
:func:`load_weights`, which uses torch's weights-only unpickler: only tensors, numbers, strings,
``None``, lists, tuples and dicts are rebuilt, and a file that names any other Python object
(a class, a function such as ``os.system``) is refused before that object is looked up, so
nothing in it executes. What we save must therefore be made of those types only (numpy values
converted with ``float()``/``int()``/``.tolist()``). torch is imported inside the function.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path

from synthreid.errors import SynthreidError

_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+)")
_REASON_RE = re.compile(r"WeightsUnpickler error:\s*(.+)")


def load_weights(
    path: str | Path, error: type[Exception] = SynthreidError, what: str = "checkpoint", map_location="cpu"
):
    """The object saved in ``path`` (weights-only), or ``error`` with a one-line message naming the file.

    A missing file, a truncated or garbled file and a file holding other Python objects than
    weights each give their own message; a refused file never gets past the unpickler.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} missing")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it reads anyway
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        m = _GLOBAL_RE.search(str(exc))
        if m:
            raise error(
                f"{path}: refused: not a pure-weights {what} (it names the Python object {m[1]}); "
                "only tensors, numbers, strings, lists and dicts are loaded, nothing in the file "
                "was run"
            ) from None
        r = _REASON_RE.search(str(exc))
        reason = r[1].strip() if r else type(exc).__name__
        raise error(
            f"{path}: corrupt or not a pure-weights {what} ({reason[:200]}); refused, nothing in "
            "the file was run"
        ) from None
    except Exception as exc:  # torch raises many types for truncated/garbage files
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "empty or truncated"
        raise error(f"{path}: corrupt or unreadable {what} ({type(exc).__name__}: {first})") from None


_PLAIN = (bool, int, float, str, bytes, type(None))


def check_plain(obj, where: str = "state") -> None:
    """Raise TypeError naming the first value under ``obj`` that :func:`load_weights` would refuse.

    Called before saving, so a checkpoint that could not be loaded back is never written. Types
    are matched exactly: a numpy float is a ``float`` subclass, but the weights-only loader refuses it.
    """
    from collections import OrderedDict

    import torch

    if type(obj) in _PLAIN or isinstance(obj, torch.Tensor | torch.dtype | torch.device | torch.Size):
        return
    if type(obj) in (dict, OrderedDict):
        for k, v in obj.items():
            if type(k) not in _PLAIN:
                raise TypeError(f"{where}: key {k!r} of type {type(k).__name__} cannot be saved as weights")
            check_plain(v, f"{where}[{k!r}]")
        return
    if type(obj) in (list, tuple):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"{where}: a {type(obj).__module__}.{type(obj).__name__} cannot be saved as weights "
        "(convert it to a number, string, list or tensor)"
    )
