"""The errors a user can cause, as one exception family.

Everything the command line prints as a one-line ``error: ...`` is a :class:`SeqbenchError`:
a bad flag or config value, an unreadable data file, a results folder that is missing or
inconsistent, a model that is not installed. Any other exception is a bug in seqrec_bench (or in
a plugin) and the CLI says so ("internal error: ..."), with ``--debug`` for the traceback.

Each subclass also derives from the built-in type that callers caught before the family existed
(``ValueError``, ``RuntimeError``, ...), so ``except ValueError`` keeps working.

Example:
    >>> issubclass(ConfigError, SeqbenchError) and issubclass(ConfigError, ValueError)
    True
"""

from __future__ import annotations

__all__ = ["SeqbenchError", "ConfigError", "ResultsError", "FolderLockedError"]


class SeqbenchError(Exception):
    """Base of every user-facing error; its message is one line naming what was wrong and where."""


class ConfigError(SeqbenchError, ValueError):
    """A run or model configuration value that is unknown, of the wrong type, or out of range."""


class ResultsError(SeqbenchError, ValueError):
    """A results folder that is missing, empty, or holds cells that cannot be combined."""


class FolderLockedError(ResultsError):
    """Another process holds a results folder's lock (and this command was told not to wait)."""
