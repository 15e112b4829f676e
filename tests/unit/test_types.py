"""mypy over the pure-Python packages, with the configuration in pyproject.toml ([tool.mypy]).

Lenient start: outside workers, refine and benchmark, unannotated functions are not checked
inside; everything else must check clean (no module is exempt).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _mypy(*args: str) -> tuple[str, int]:
    try:
        from mypy import api
    except ImportError:  # a missing checker must not pass silently
        raise AssertionError("mypy is part of the dev extra: pip install -e '.[dev]'") from None
    out, err, rc = api.run(["--config-file", str(ROOT / "pyproject.toml"), *args])
    return out + err, rc


def test_packages_type_check(monkeypatch):
    monkeypatch.chdir(ROOT)  # the config's `files` are relative to the repository
    out, rc = _mypy()
    assert rc == 0, out


def test_a_type_error_fails_the_check(tmp_path, monkeypatch):
    """The same run, with one of our modules replaced by a copy holding wrong types
    (``--shadow-file``), fails: the check above can fail, also inside unannotated functions."""
    monkeypatch.chdir(ROOT)
    module = ROOT / "synthreid" / "workers" / "catalog" / "values.py"
    shadow = tmp_path / "values.py"
    shadow.write_text(
        module.read_text()
        + "\n\ndef _state() -> RunState:\n    return 'done'  # a str, not the enum\n"
        + "\n\ndef _untyped():\n    n: int = 'x'  # checked too: check_untyped_defs in workers\n"
    )
    out, rc = _mypy("--shadow-file", str(module), str(shadow))
    assert rc == 1, out
    assert "values.py:" in out and 'Incompatible return value type (got "str", expected "RunState")' in out, (
        out
    )
    assert 'Incompatible types in assignment (expression has type "str", variable has type "int")' in out, out
