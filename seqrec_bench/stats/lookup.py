"""Name -> function tables for tests and corrections, with errors that list the valid names."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from seqrec_bench.errors import SeqbenchError

__all__ = ["UnknownNameError", "Lookup"]

F = TypeVar("F", bound=Callable)


class UnknownNameError(SeqbenchError, KeyError, ValueError):
    """An unknown test or correction name.

    It is a :class:`KeyError` (what a mapping raises) and a :class:`ValueError` (what a bad
    argument raises), so callers catching either see it.
    """

    def __str__(self) -> str:
        # KeyError.__str__ would show the repr of the message, quotes and all.
        return str(self.args[0])


class Lookup(Mapping[str, F]):
    """A read-only, case-insensitive mapping from short names to functions.

    Args:
        kind: what the names are, for error messages (``"test"``).
        entries: name -> function, in the order the names are listed.
        titles: name -> human-readable title (``"paired t-test"``), used in table footnotes.
    """

    def __init__(self, kind: str, entries: dict[str, F], titles: dict[str, str]) -> None:
        if entries.keys() != titles.keys():
            raise ValueError("every entry needs a title")
        self._kind = kind
        self._entries = dict(entries)
        self._titles = dict(titles)

    def _key(self, name: str) -> str:
        key = name.strip().lower() if isinstance(name, str) else name
        if key not in self._entries:
            valid = ", ".join(self._entries)
            raise UnknownNameError(f"unknown {self._kind} {name!r}; valid: {valid}")
        return key

    def __getitem__(self, name: str) -> F:
        return self._entries[self._key(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name`` (``"Holm"`` -> ``"holm"``).

        Raises:
            UnknownNameError: for a name that is not registered.
        """
        return self._key(name)

    def title(self, name: str) -> str:
        """The human-readable title of ``name`` (``"ttest"`` -> ``"paired t-test"``).

        Raises:
            UnknownNameError: for a name that is not registered.
        """
        return self._titles[self._key(name)]

    def __repr__(self) -> str:
        return f"Lookup({self._kind!r}, {list(self._entries)})"
