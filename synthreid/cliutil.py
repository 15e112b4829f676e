"""Conventions shared by every ``synthreid`` command: sizes, CPU defaults, help formatting.

Sizes on the command line are always ``WIDTHxHEIGHT`` in pixels (``64x128`` is a portrait
person crop, 64 wide and 128 high), whichever command takes them. Pure standard library:
``synthreid --help`` imports this module.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


class Size(NamedTuple):
    """An image size in pixels; a tuple ``(width, height)`` so it serialises as ``[w, h]``."""

    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def landscape(self) -> bool:
        return self.width > self.height


def parse_size(text: str) -> Size:
    """``"64x128"`` -> ``Size(width=64, height=128)``; both sides positive integers.

    Raises ``argparse.ArgumentTypeError`` (argparse turns it into a one-line usage error).
    """
    m = _SIZE_RE.match(str(text))
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 64x128, got {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(
            f"expected positive WIDTHxHEIGHT in pixels, e.g. 64x128, got {text!r}"
        )
    return Size(w, h)


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPU cores this process may use, >= 1: its CPU affinity set, further capped by a cgroup
    v2 CPU quota (``cpu.max`` "QUOTA PERIOD" in microseconds, as a container's ``--cpus`` sets
    it; rounded up). os.cpu_count() counts the host's CPUs, which in a container limited to 2
    CPUs would start a process per host CPU."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cores = max(1, os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here (or unreadable): the affinity set is the limit
    return cores


def default_loader_workers(cap: int = 2) -> int:
    """Data-loader processes that leave one core to the main (training) process: 0..cap."""
    return max(0, min(cap, available_cores() - 1))


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help only when it says something.

    Skipped when the default is None or suppressed, for flags (store_true/false), for
    required options and positionals, and when the help text already mentions a default.
    Sizes print as ``WIDTHxHEIGHT``.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            default is None
            or default is argparse.SUPPRESS
            or action.required
            or "default" in text.lower()
            or "%(default)" in text
            or (action.nargs == 0 and isinstance(default, bool))
            or (not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE))
        ):
            return text
        shown = str(default) if isinstance(default, Size) else "%(default)s"
        return f"{text} (default: {shown})" if text else f"(default: {shown})"


def _with_shared_defaults(formatter: Any) -> Any:
    if issubclass(formatter, HelpFormatter):
        return formatter
    # Keep hand-laid-out descriptions/epilogs (Raw* formatters); replace any default-appending.
    raw = [
        c
        for c in (argparse.RawTextHelpFormatter, argparse.RawDescriptionHelpFormatter)
        if issubclass(formatter, c)
    ]
    return type(f"HelpFormatter+{raw[0].__name__}", (HelpFormatter, raw[0]), {}) if raw else HelpFormatter


def apply_help_formatter(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and every sub-command parser below it the shared ``HelpFormatter``."""
    parser.formatter_class = _with_shared_defaults(parser.formatter_class)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                apply_help_formatter(sub)


def iter_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Yield ``(command words, parser)`` for ``parser`` and every sub-command parser below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from iter_parsers(sub, (*path, name))
