"""The ``synthreid`` console script: one argparse tree, thin over the packages.

Each package contributes its commands through a ``register(subparsers)`` function in its
own ``cli`` module; those modules import nothing heavy at import time (bpy, torch and
psycopg2 are imported inside the command functions).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import logging
import os
import sys

from synthreid.cliutil import HelpFormatter, apply_help_formatter
from synthreid.errors import SynthreidError

# Order is the order of `synthreid --help`.
COMMAND_MODULES = (
    "synthreid.workers.render_cli",  # `synthreid render`: the farm embedded in one command
    "synthreid.render.cli",
    "synthreid.render.stats_cli",
    "synthreid.render.degrade_cli",
    "synthreid.workers.cli",
    "synthreid.importer",  # `synthreid import`: benchmark's readers + the farm's catalog
    "synthreid.refine.cli",
    "synthreid.benchmark.cli",
    "synthreid.study.cli",
    "synthreid.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthreid",
        description="Synthetic-data factory for person re-identification. Sizes are WIDTHxHEIGHT "
        "pixels everywhere (64x128 = 64 wide, 128 high). `synthreid COMMAND --help` "
        "describes each command.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that package has no commands yet
            raise
        module.register(sub)
    # One help style for every command: defaults shown only where they say something.
    apply_help_formatter(parser)
    return parser


def resolve_catalog_names(values):
    """``catalog:NAME`` dataset values -> catalog datasets (see ``synthreid.catalog_names``); handed
    to the commands as ``args.catalog_resolver`` so that refine and benchmark need not import the farm."""
    from synthreid.catalog_names import resolve_datasets

    return resolve_datasets(values)


def check_command_line(argv: list[str]) -> str | None:
    """Dry run of the parser over ``synthreid ARGV...``: its error message, or None when it parses.
    Handed to ``synthreid submit`` as ``args.check_command_line``: a gpu job's options are checked
    when submitted, while the farm itself never builds this parser."""
    msgs = io.StringIO()
    try:
        with contextlib.redirect_stderr(msgs), contextlib.redirect_stdout(msgs):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            lines = [ln for ln in msgs.getvalue().strip().splitlines() if ln.strip()]
            return lines[-1].split(": error: ", 1)[-1] if lines else f"invalid arguments {argv}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.catalog_resolver = resolve_catalog_names
    args.check_command_line = check_command_line
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        rc = args.func(args)
    except SynthreidError as exc:
        print(f"synthreid: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("synthreid: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_pipe()
    try:
        sys.stdout.flush()  # a pipe closed after the last write fails here, not at exit
    except BrokenPipeError:
        return _closed_pipe()
    return int(rc or 0)


def _closed_pipe() -> int:
    """The reader of our stdout went away (``synthreid spec I | head``): stop quietly, as
    Unix tools do, with the status of SIGPIPE (128 + 13)."""
    # Python would report the pipe again when it flushes stdout at exit: point it at /dev/null.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


if __name__ == "__main__":
    sys.exit(main())
