"""Name -> entry registries, so YAML files refer to methods, backbones and domains by name only.

Names are resolved through these tables and nothing else: a search-space file can never make us
import an arbitrary module path.

One idiom for every table: the registry lives in its package's ``base.py``, and each entry registers itself
where it is defined, with the decorator form on its class::

    @METHODS.register("simclr")
    class SimCLR(SSLMethod): ...

The package's ``__init__.py`` is then only the import line of each module (which runs the registration) and
the re-exports. A registry may check what it is given (``check_entry``): an entry that does not fit is refused
with a TypeError when its module is imported, not when a trial first builds it.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """Raised for a name that is not registered; the message lists the registered ones."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0])


class Registry(Generic[T]):
    """Entries of one ``kind`` ("method", "backbone", ...) by name.

    ``check_entry(name, entry)``, if given, runs before an entry is added and raises TypeError (naming the entry and
    what it lacks) for one that does not fit the interface; a refused entry is not added.
    """

    def __init__(self, kind: str, check_entry: Callable[[str, T], None] | None = None) -> None:
        self.kind = kind
        self._check_entry = check_entry
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that adds its class (or any entry) under ``name`` and returns it unchanged."""

        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            if self._check_entry is not None:
                self._check_entry(name, entry)
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(f"unknown {self.kind} '{name}'; known: {', '.join(sorted(self._entries))}") from None

    def check(self, name: str) -> str:
        """``name`` if registered, else ``UnknownNameError`` (a ValueError, so pydantic reports it)."""
        self.get(name)
        return name

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
