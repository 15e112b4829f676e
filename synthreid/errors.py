"""Exception types shared by every package (user-facing errors carry a clear message)."""


class SynthreidError(Exception):
    """Base class of errors that the CLI prints as one clear line (no traceback)."""


class SpecError(SynthreidError, ValueError):
    """A dataset spec is malformed; the message names the field and what was allowed."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class DatasetError(SynthreidError):
    """A dataset on disk is missing, malformed or inconsistent; the message names the file."""
