"""Print the third-party requirements of pyproject.toml for the given extras, one per line.

Used by the Dockerfile to install dependencies in their own layer (cached while only the
package's code changes). Usage: python pyproject-requirements.py PYPROJECT EXTRAS
(EXTRAS: comma-separated, e.g. "render,farm"; "" for the base dependencies only).
"""

from __future__ import annotations

import re
import sys
import tomllib


def requirements(pyproject: dict, extras: list[str]) -> list[str]:
    """Base dependencies plus those of ``extras``; self-references (``name[a,b]``) are expanded."""
    project = pyproject["project"]
    name, optional = project["name"], project.get("optional-dependencies", {})
    out, todo, seen = list(project.get("dependencies", [])), list(extras), set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"EXTRAS: unknown extra {extra!r} (expected one of {', '.join(optional)})")
        seen.add(extra)
        for req in optional[extra]:
            m = re.fullmatch(rf"{re.escape(name)}\[(.*)\]", req.strip())
            if m:
                todo.extend(e.strip() for e in m[1].split(","))
            elif req not in out:
                out.append(req)
    return out


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as fh:
        data = tomllib.load(fh)
    print("\n".join(requirements(data, [e for e in sys.argv[2].split(",") if e.strip()])))
