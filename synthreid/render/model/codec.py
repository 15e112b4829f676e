"""Strict JSON codec of the plan's frozen dataclasses (pure Python).

``to_json(value)`` gives plain JSON values (dataclasses as objects, tuples as lists);
``from_json(cls, data, where)`` rebuilds ``cls`` and checks every field: unknown or missing
keys, wrong types and values outside a field's ``choices`` raise ``PlanError`` naming the
field's path. A field whose default is None is left out of the JSON while it is None, so a
row carries only what was drawn. ``from_json(cls, to_json(x)) == x`` for every plan value.

Supported field types: bool, int, float, str, tuples of those (fixed or variable length),
``X | None``, nested plan dataclasses, and unions of dataclasses told apart by a ``kind``
field (``field(metadata={"choices": ("walk",)})`` with that one value as default).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, TypeVar

from synthreid.errors import SynthreidError

T = TypeVar("T")


class PlanError(SynthreidError, ValueError):
    """A stored plan (catalog row, label row, JSON file) cannot be read; names the field."""


_SCALARS = (int, float, str, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)  # exact types: one set lookup instead of isinstance


def to_json(value: Any, leave_out: tuple[str, ...] = ()) -> Any:
    """Plain JSON value of a plan value (dataclass, tuple, scalar); ``leave_out``: fields of a
    dataclass ``value`` not to write."""
    t = type(value)
    if t in _SCALAR_TYPES:
        return value
    enc = _ENCODERS.get(t)
    if enc is not None:
        return enc(value, leave_out)
    if t is tuple or t is list:
        return [v if type(v) in _SCALAR_TYPES else to_json(v) for v in value]
    if isinstance(value, _SCALARS):  # subclasses (numpy floats, enums of str)
        return value
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if dataclasses.is_dataclass(t):
        _ENCODERS[t] = enc = _compile_encoder(t)
        return enc(value, leave_out)
    return _generic_dataclass(value, leave_out)  # TypeError for anything else


def _generic_dataclass(value: Any, leave_out: tuple[str, ...]) -> dict[str, Any]:
    """``to_json`` of a dataclass, field by field (what ``_compile_encoder``'s code unrolls)."""
    t = type(value)
    out: dict[str, Any] = {}
    for name, omit_none in _names(t):  # TypeError for anything else
        if name in leave_out:
            continue
        v = getattr(value, name)
        if v is None:
            if omit_none:
                continue
            out[name] = None
        else:
            out[name] = v if type(v) in _SCALAR_TYPES else to_json(v)
    return out


# Planning encodes millions of plans: each dataclass gets ``_generic_dataclass`` unrolled into
# straight-line code (attribute reads, the scalar test inline), the same values 2x faster.
_ENCODERS: dict[type, Any] = {}


def _compile_encoder(cls: type):
    """``_generic_dataclass`` for dataclass ``cls`` as generated code: value for value the same."""
    lines = ["def encode(value, leave_out):", "    out = {}"]
    for name, omit_none in _names(cls):  # dataclass field names are identifiers
        lines += [
            f"    if {name!r} not in leave_out:",
            f"        v = value.{name}",
            "        if v is None:",
            "            pass" if omit_none else f"            out[{name!r}] = None",
            "        elif type(v) in SCALARS:",
            f"            out[{name!r}] = v",
            "        elif type(v) is tuple:",
            f"            out[{name!r}] = [x if type(x) in SCALARS else to_json(x) for x in v]",
            "        else:",
            f"            out[{name!r}] = to_json(v)",
        ]
    lines.append("    return out")
    env: dict[str, Any] = {"SCALARS": _SCALAR_TYPES, "to_json": to_json}
    exec(compile("\n".join(lines), f"<plan codec: {cls.__qualname__}>", "exec"), env)  # noqa: S102 - our own field names
    return env["encode"]


_NAMES: dict[type, tuple[tuple[str, bool], ...]] = {}


def _names(cls: type) -> tuple[tuple[str, bool], ...]:
    """(name, left out while None) of each field of dataclass ``cls`` (cached)."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple((f.name, omit_none) for f, _, omit_none in _fields(cls))
    return names


def from_json(cls: type[T], data: Any, where: str, **given: Any) -> T:
    """``cls`` rebuilt from ``data`` (see the module doc); ``where`` names it in errors.
    ``given``: fields already built, taken as they are (absent from ``data``)."""
    return _dataclass(cls)(data, where, given)


_FIELDS: dict[type, tuple] = {}


def _fields(cls: type) -> tuple:
    """(field, converter, left out while None) of each field of dataclass ``cls`` (cached)."""
    if cls not in _FIELDS:
        hints = typing.get_type_hints(cls)
        _FIELDS[cls] = tuple(
            (f, _converter(hints[f.name], f.metadata.get("choices")), f.default is None)
            for f in dataclasses.fields(cls)
        )
    return _FIELDS[cls]


def _fail(where: str, msg: str) -> typing.NoReturn:
    raise PlanError(f"{where}: {msg}")


def _scalar(tp, choices):
    def conv(v, where):
        if type(v) is tp and (choices is None or v in choices):  # the common case, checked fully below
            return v
        if tp is float:
            ok = isinstance(v, int | float) and not isinstance(v, bool)
            v = float(v) if ok else v
        elif tp is int:
            ok = isinstance(v, int) and not isinstance(v, bool)
        else:
            ok = isinstance(v, tp)
        if not ok:
            _fail(where, f"expected {tp.__name__}, got {type(v).__name__} {v!r}")
        if choices is not None and v not in choices:
            _fail(where, f"{v!r} is not one of: {', '.join(map(str, choices))}")
        return v

    return conv


_READ: dict[type, tuple] = {}


def _read_fields(cls: type) -> tuple:
    """((name, converter, required, exact scalar type or None, choices) of each field of ``cls``,
    frozenset of the names), cached."""
    if cls not in _READ:
        hints = typing.get_type_hints(cls)
        fields = tuple(
            (
                f.name,
                fconv,
                f.default is dataclasses.MISSING,
                hints[f.name] if hints[f.name] in (bool, int, float, str) else None,
                f.metadata.get("choices"),
            )
            for f, fconv, _ in _fields(cls)
        )
        _READ[cls] = (fields, frozenset(name for name, *_ in fields))
    return _READ[cls]


def _dataclass(cls):
    def conv(data, where, given=None):
        if not isinstance(data, dict):
            _fail(where, f"expected an object, got {type(data).__name__}")
        fields, names = _read_fields(cls)  # on first use: field types may name later classes
        if not names.issuperset(data):
            unknown = sorted(set(data) - names)
            _fail(f"{where}.{unknown[0]}", f"unknown field (expected one of: {', '.join(sorted(names))})")
        kwargs = dict(given) if given else {}
        for name, fconv, required, exact, choices in fields:
            if name in kwargs:
                if name in data:
                    _fail(f"{where}.{name}", "given twice")
            elif name in data:
                v = data[name]
                # A value of exactly the field's scalar type (within its choices) is what the
                # converter would return: skip the call and the path string.
                if exact is None or type(v) is not exact or (choices is not None and v not in choices):
                    v = fconv(v, f"{where}.{name}")
                kwargs[name] = v
            elif required:
                _fail(f"{where}.{name}", "missing")
        try:
            return cls(**kwargs)
        except PlanError:
            raise
        except (TypeError, ValueError) as exc:
            _fail(where, str(exc))

    return conv


def _kind_of(cls) -> str:
    f = next(f for f in dataclasses.fields(cls) if f.name == "kind")
    return str(f.default)


def _union(args, choices):
    members = [a for a in args if a is not type(None)]
    optional = len(members) < len(args)
    if len(members) == 1:
        inner = _converter(members[0], choices)
    else:  # a union of dataclasses told apart by their "kind"
        by_kind = {_kind_of(m): _converter(m) for m in members}

        def inner(v, where):
            kind = v.get("kind") if isinstance(v, dict) else None
            if kind not in by_kind:
                _fail(f"{where}.kind", f"{kind!r} is not one of: {', '.join(by_kind)}")
            return by_kind[kind](v, where)

    if not optional:
        return inner
    return lambda v, where: None if v is None else inner(v, where)


def _tuple(args, choices):
    if len(args) == 2 and args[1] is Ellipsis:
        item, n, convs = _converter(args[0], choices), None, ()
    else:
        item, n, convs = None, len(args), [_converter(a, choices) for a in args]

    plain = {a for a in args if a in (int, str, bool)} if choices is None else set()
    floats = choices is None and set(args) <= {float, Ellipsis}

    def conv(v, where):
        if not isinstance(v, list | tuple):
            _fail(where, f"expected a list, got {type(v).__name__}")
        if n is not None and len(v) != n:
            _fail(where, f"expected {n} values, got {len(v)}")
        # Common cases without a path string per item: the checks below would pass them as they are.
        if floats and all(type(x) is float for x in v):
            return tuple(v)
        if len(plain) == 1 and len(set(args) - {Ellipsis}) == 1 and all(type(x) in plain for x in v):
            return tuple(v)
        if item is not None:
            return tuple(item(x, f"{where}[{i}]") for i, x in enumerate(v))
        return tuple(c(x, f"{where}[{i}]") for i, (c, x) in enumerate(zip(convs, v, strict=True)))

    return conv


@functools.cache
def _converter(tp, choices=None):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return _union(args, choices)
    if origin is tuple:
        return _tuple(args, choices)
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp)
    if tp in (bool, int, float, str):
        return _scalar(tp, choices)
    raise TypeError(f"plan codec: unsupported field type {tp!r}")
