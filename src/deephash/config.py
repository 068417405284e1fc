"""Typed configs from params dicts: an unknown key is an error naming its full params path."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

from deephash.errors import DeephashError

T = TypeVar("T")


def check_keys(params: Mapping[str, Any], known: Iterable[str], section: str) -> None:
    known = sorted(known)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise DeephashError(f"{section}.{unknown[0]}: unknown key (known: {', '.join(known)})")


def from_mapping(cls: type[T], params: Mapping[str, Any], section: str) -> T:
    """``cls(**params)`` for a dataclass, after checking every key is one of its fields."""
    check_keys(params, (f.name for f in fields(cls)), section)  # type: ignore[arg-type]
    return cls(**params)


def check_bits(bits: object, key: str = "bits") -> int:
    """The one check of a code length: a positive multiple of 8, since codes are packed into bytes."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or bits <= 0 or bits % 8:
        raise DeephashError(f"{key}: {bits!r} is not a positive multiple of 8 (codes are packed into bytes)")
    return int(bits)
