"""The dataset names this process gave one re-ID library, shared by the torchreid and fast-reid
adapters: a name defaults from the folder, registering it again with the same folder is a
no-op, and with another folder it is an error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from synthreid.errors import SynthreidError

DEFAULT_NAME = "synthreid"


@dataclass(frozen=True)
class Claim:
    """What ``register()`` is asked for: ``name`` for ``folder`` (None: the library's root)."""

    name: str
    folder: str | None  # resolved absolute path
    format: str | None
    done: bool  # already registered with the same folder and format: nothing to do


@dataclass
class Registrations:
    library: str  # as the error messages name it, e.g. "torchreid"
    root_words: str  # what a None folder reads, e.g. "the root argument"
    seen: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def claim(self, folder: str | Path | None, name: str | None, format: str | None) -> Claim:
        """The name to register (``synthreid:FOLDER`` or ``synthreid`` by default); SynthreidError
        when the name is taken by another folder."""
        folder_key = str(Path(folder).expanduser().resolve()) if folder is not None else None
        if name is None:
            name = DEFAULT_NAME if folder is None else f"synthreid:{folder}"
        if name in self.seen and self.seen[name] != (folder_key, format):
            raise SynthreidError(
                f"{self.library} dataset {name!r} is already registered for "
                f"{self.seen[name][0] or self.root_words}; pick another name"
            )
        return Claim(name, folder_key, format, done=name in self.seen)

    def added(self, claim: Claim) -> str:
        """Record a registration the library accepted; returns its name."""
        self.seen[claim.name] = (claim.folder, claim.format)
        return claim.name

    def refused(self, claim: Claim) -> SynthreidError:
        """The error for a name the library itself already has (registered by someone else)."""
        return SynthreidError(f"{self.library} already has a dataset named {claim.name!r}: pass another name")
