"""Errors that reach the user as one clear line (the CLI prints them and exits with status 2)."""

from typing import Any


def shown(value: Any, limit: int = 80) -> str:
    """`value` as its repr, cut to `limit` characters with "..." so that a message stays one line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class UserError(Exception):
    """Bad input from the user: a config value, a file, a directory, an option."""


class ConfigError(UserError, ValueError):
    """A configuration field has a value that is not allowed."""


class RunDirError(UserError):
    """A run directory is missing, incomplete, foreign or would be overwritten."""


class FileFormatError(UserError):
    """A file is corrupt, truncated, of the wrong shape or written by another program."""


class TrainingDiverged(UserError):
    """Training produced NaN or inf and could not recover."""


class SimulationDiverged(UserError):
    """A simulation produced NaN or inf (its message names the first time step and trial)."""
