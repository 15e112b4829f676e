"""Content keys of folders: a SHA-256 over every file's relative path and bytes.

Hashing a real test set's few thousand crops takes well under a second, but a study checks
its inputs on every run, so a folder's key is memoised under a signature of its files'
(path, size, mtime): an unchanged folder is not read again, and a changed file changes the
signature, so its bytes are hashed again. Names starting with '.' (temp files, markers) are
ignored. Symlinked folders are followed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from synthreid.errors import DatasetError
from synthreid.fsutil import read_json_object, sha256_file, write_json


def list_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative posix path, path) of every non-hidden file under ``folder``, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith("."):
                p = Path(dirpath) / name
                out.append((p.relative_to(folder).as_posix(), p))
    return sorted(out)


class FingerprintMemo:
    """Folder content keys memoised in a JSON file ({folder: [stat signature, key]})."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.data = read_json_object(self.path) if self.path else {}
        self.dirty = False

    def folder(self, folder: str | Path) -> str:
        """Content key (hex) of ``folder``; DatasetError when it is missing or empty."""
        folder = Path(folder).resolve()
        if not folder.is_dir():
            raise DatasetError(f"{folder}: no such folder")
        files = list_files(folder)
        if not files:
            raise DatasetError(f"{folder}: empty folder")
        sig = hashlib.sha256()
        for rel, p in files:
            st = p.stat()
            sig.update(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        signature = sig.hexdigest()
        hit = self.data.get(str(folder))
        if isinstance(hit, list) and len(hit) == 2 and hit[0] == signature:
            return hit[1]
        content = hashlib.sha256()
        for rel, p in files:
            content.update(rel.encode() + b"\0" + bytes.fromhex(sha256_file(p)))
        key = content.hexdigest()
        self.data[str(folder)] = [signature, key]
        self.dirty = True
        return key

    def save(self) -> None:
        if self.path and self.dirty:
            write_json(self.path, self.data, indent=None)
            self.dirty = False


def json_key(obj) -> str:
    """SHA-256 (hex) of the canonical JSON of ``obj``."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
