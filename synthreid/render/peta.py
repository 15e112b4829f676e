"""Reading attribute labels in PETA's format (pure Python).

PETA's ``Label.txt`` files hold one person per line: an ID, then the names of the attributes
that person has, separated by white space, e.g. ``0001 upperBodyBlack lowerBodyBlue hairShort
personalMale personalLess30 carryingBackpack ...``. Attribute names are camelCase words
(``upperBody*``, ``lowerBody*``, ``personal*``, ``hair*``, ``carrying*``, ``accessory*``,
``footwear*``). A path may be one such file or a folder of ``*.txt`` files (read sorted,
recursively); files with "readme" in their name are skipped, since PETA's own read-me lists
attribute numbers and names in the same two-column shape.
"""

from __future__ import annotations

import re
from pathlib import Path

from synthreid.errors import DatasetError

PREFIXES = ("upperBody", "lowerBody", "personal", "hair", "carrying", "accessory", "footwear")
_LABEL_RE = re.compile(r"^[a-z]+[A-Z][A-Za-z0-9]*$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def label_files(path: str | Path) -> list[Path]:
    """The label files of ``path`` (a file, or the sorted ``*.txt`` under a folder), or DatasetError."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise DatasetError(f"{p}: no such file or folder of PETA labels")
    files = sorted(
        f
        for f in p.rglob("*.txt")
        if "readme" not in f.name.lower() and not any(part.startswith(".") for part in f.relative_to(p).parts)
    )
    if not files:
        raise DatasetError(f"{p}: no *.txt label files (PETA format: 'ID label label ...' per line)")
    return files


def read_file(path: str | Path) -> list[frozenset[str]]:
    """The label sets of every person in one PETA label file, or DatasetError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror})") from exc
    people = []
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        pid, labels = tokens[0], tokens[1:]
        if not _ID_RE.match(pid):
            raise DatasetError(
                f"{path}:{lineno}: {pid!r} is not a person ID "
                "(expected 'ID label label ...', e.g. '0001 upperBodyBlack hairShort')"
            )
        bad = [t for t in labels if not _LABEL_RE.match(t)]
        if bad:
            raise DatasetError(
                f"{path}:{lineno}: {bad[0]!r} is not a PETA attribute name "
                "(camelCase like upperBodyBlack, personalMale, carryingBackpack)"
            )
        if not labels:
            continue  # a person without any labels says nothing about any family
        people.append(frozenset(labels))
    if not any(t.startswith(PREFIXES) for person in people for t in person):
        raise DatasetError(
            f"{path}: no PETA attribute labels found (expected lines 'ID label label ...' with "
            f"labels starting with {', '.join(PREFIXES)})"
        )
    return people


def read_labels(path: str | Path) -> list[frozenset[str]]:
    """Label sets of every person in a PETA label file or folder (see module doc)."""
    people: list[frozenset[str]] = []
    for f in label_files(path):
        people.extend(read_file(f))
    return people
