"""Errors of the refiners (a bad config, a missing mask folder, a corrupt checkpoint)."""

from synthreid.errors import SynthreidError


class RefineError(SynthreidError, ValueError):
    """A refiner config, run folder or checkpoint is invalid; the message names the field or file."""
