"""Every command of the real ``synthreid`` parser documents every argument, and sizes agree.

The walk covers whatever the packages register, so a new option without help, a help line
that renders ``(default: None)`` or a second ``(default: ...)``, or a ``--size`` that is not
WIDTHxHEIGHT fails here, naming the command and the option.
"""

from __future__ import annotations

import argparse

import pytest

from synthreid.cli import build_parser, main


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def _arguments(parser: argparse.ArgumentParser):
    return [
        a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
    ]


def _label(action: argparse.Action) -> str:
    return "/".join(action.option_strings) or action.dest


PARSERS = list(_walk(build_parser()))
IDS = [" ".join(path) or "synthreid" for path, _ in PARSERS]


def test_walk_reaches_the_nested_commands():
    commands = {" ".join(path) for path, _ in PARSERS}
    assert {"render", "refine train", "refine apply", "benchmark train", "worker", "demo"} <= commands


@pytest.mark.parametrize("path,parser", PARSERS, ids=IDS)
def test_every_argument_and_command_has_help(path, parser):
    missing = [_label(a) for a in _arguments(parser) if not (a.help or "").strip()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {c.dest for c in action._choices_actions if (c.help or "").strip()}
            missing += [f"command {name!r}" for name in action.choices if name not in helped]
    assert not missing, f"`synthreid {' '.join(path)}`: no help for {', '.join(missing)}"


@pytest.mark.parametrize("path,parser", PARSERS, ids=IDS)
def test_help_shows_no_empty_or_repeated_defaults(path, parser):
    text = parser.format_help()
    assert "(default: None)" not in " ".join(text.split()), f"`synthreid {' '.join(path)} --help`"
    formatter = parser._get_formatter()
    for action in _arguments(parser):
        if action.help is None:
            continue  # reported by the test above
        shown = formatter._expand_help(action)
        assert shown.count("(default:") <= 1, f"`synthreid {' '.join(path)}` {_label(action)}: {shown!r}"
        assert "(default: None)" not in shown, f"`synthreid {' '.join(path)}` {_label(action)}: {shown!r}"


SIZE_OPTIONS = [
    (path, a) for path, parser in PARSERS for a in _arguments(parser) if "--size" in a.option_strings
]


def test_size_options_exist():
    commands = {" ".join(path) for path, _ in SIZE_OPTIONS}
    assert {"render", "refine train"} <= commands


@pytest.mark.parametrize("path,action", SIZE_OPTIONS, ids=[" ".join(p) for p, _ in SIZE_OPTIONS])
def test_every_size_is_width_x_height(path, action):
    assert action.type is not None, f"`synthreid {' '.join(path)} --size` keeps the raw string"
    value = action.type("64x128")
    assert (getattr(value, "width", None), getattr(value, "height", None)) == (64, 128), (
        f"`synthreid {' '.join(path)} --size 64x128` parsed as {value!r}"
    )


def test_help_exits_cleanly_for_every_command(capsys):
    for path, _ in PARSERS:
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args([*path, "--help"])
        assert exc.value.code == 0
        assert "usage: synthreid" in capsys.readouterr().out


def test_bad_size_is_a_one_line_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["refine", "train", "--source", "S", "--target", "T", "--size", "64by128"])
    assert exc.value.code == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_spec_key_typo_suggests_the_closest_key(tmp_path, capsys):
    spec = tmp_path / "typo.toml"
    spec.write_text('name = "typo"\ncharacter = 3\n')
    assert main(["spec", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "character" in err and "did you mean 'characters'?" in err
    spec.write_text('name = "typo"\nzzzz = 3\n')
    assert main(["spec", str(spec)]) == 2
    assert "did you mean" not in capsys.readouterr().err  # nothing close: no guess


def test_shared_formatter_shows_only_meaningful_defaults():
    from synthreid.cliutil import Size, apply_help_formatter, parse_size

    p = argparse.ArgumentParser(
        prog="x",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="line one\n    indented line",
    )
    p.add_argument("--alpha", type=int, default=3, help="alpha")
    p.add_argument("--beta", help="beta")
    p.add_argument("--gamma", default="x", help="gamma (default: detect)")
    p.add_argument("--flag", action="store_true", help="a flag")
    p.add_argument("--req", required=True, help="required")
    p.add_argument("--size", type=parse_size, default=Size(64, 128), help="size")
    apply_help_formatter(p)
    text = p.format_help()
    assert "line one\n    indented line" in text  # a Raw* layout survives
    flat = " ".join(text.split())
    assert "alpha (default: 3)" in flat and "size (default: 64x128)" in flat
    assert "gamma (default: detect) --flag" in flat  # no second default appended
    assert flat.count("(default:") == 3
    assert "(default: None)" not in flat and "(default: False)" not in flat


def test_size_parser_and_cpu_defaults():
    from synthreid.cliutil import available_cores, default_loader_workers, parse_size

    assert parse_size(" 64 X 128 ") == (64, 128) and str(parse_size("64x128")) == "64x128"
    assert not parse_size("64x128").landscape and parse_size("128x64").landscape
    for bad in ("64", "64x", "x128", "0x128", "64x0", "-64x128", "64*128", "64x128x3"):
        with pytest.raises(argparse.ArgumentTypeError, match="WIDTHxHEIGHT"):
            parse_size(bad)
    cores = available_cores()
    assert cores >= 1 and 0 <= default_loader_workers() <= min(2, cores - 1)
