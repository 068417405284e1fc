"""A name -> factory registry, in the spirit of timm's ``register_model``.

Datasets, backbones and hashing methods each keep one, so a new entry is one decorated function
or class and every registered entry is picked up by the parametrised tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from deephash.config import suggest
from deephash.errors import DeephashError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return decorator

    def get(self, name: str, key: str | None = None) -> T:
        """Look up ``name``; ``key`` names the params key it came from, for the error message."""
        try:
            return self._entries[name]
        except KeyError:
            where = f"{key}: " if key else ""
            raise DeephashError(f"{where}unknown {self.kind} {name!r} ({suggest(name, self._entries)})") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
