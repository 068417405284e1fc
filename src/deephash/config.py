"""Typed configs from params dicts: every key and value checked, errors naming the full params path.

Params arrive as YAML 1.2 scalars (DVC writes ``-S train.lr=7e-5`` as ``7e-05``, a float in YAML
1.2 and a string in 1.1). Each value is checked against the dataclass field (or default) it fills:
an int where a float is expected is fine; a string where a number is expected, or a boolean where
an option name is expected, is a one-line error with the key, the value and what was expected.
"""

from __future__ import annotations

import difflib
import numbers
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar, Union

from deephash.errors import DeephashError

T = TypeVar("T")
#: a cut-off of the ranking: a number of items, or "all" (the whole database)
TopK = int | str


def suggest(name: object, known: Iterable[str]) -> str:
    """``did you mean X?`` for the closest of ``known`` (difflib), else the whole list."""
    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]}?"
    return f"known: {', '.join(known) or 'none'}"


def unknown(kind: str, name: object, known: Iterable[str], key: str) -> DeephashError:
    """The error for a name that is not one of ``known``, with the closest match."""
    return DeephashError(f"{key}: unknown {kind} {name!r} ({suggest(name, known)})")


def check_keys(params: Mapping[str, Any], known: Iterable[str], section: str) -> None:
    """Every key of ``params`` must be in ``known``; if ``known`` is a mapping of defaults, each value
    must also have its default's type (an int for a float default is fine)."""
    names = list(known)
    for key in sorted(params, key=str):
        if key not in names:
            raise DeephashError(f"{section}.{key}: unknown key ({suggest(key, names)})")
    if isinstance(known, Mapping):
        for key, value in params.items():
            default = known[key]
            if default is not None:
                check_type(value, type(default), f"{section}.{key}")


NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", dict: "a mapping", list: "a list"}


def _describe(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(expected) if arg is not type(None))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(expected)))
    if origin is list and typing.get_args(expected):
        return f"a list, each {_describe(typing.get_args(expected)[0])}"
    return NAMES.get(origin or expected, getattr(expected, "__name__", str(expected)))


def check_type(value: Any, expected: Any, key: str) -> Any:
    """``value`` as ``expected`` (a float for an int given where a float is expected), or the error."""
    origin = typing.get_origin(expected)
    if origin in (Union, types.UnionType):
        args = typing.get_args(expected)
        if value is None and type(None) in args:
            return None
        for arg in args:
            try:
                return check_type(value, arg, key)
            except DeephashError:
                continue
        raise _type_error(value, expected, key)
    if origin is typing.Literal:
        if value in typing.get_args(expected) and not isinstance(value, bool):
            return value
        raise _type_error(value, expected, key)
    base = origin or expected
    if base is Any or base is object:
        return value
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base in (int, float) and isinstance(value, bool):
        raise _type_error(value, expected, key)
    if base is list and isinstance(value, list) and typing.get_args(expected):
        (item,) = typing.get_args(expected)
        return [check_type(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(base, type) and isinstance(value, base):
        return value
    raise _type_error(value, expected, key)


def _type_error(value: Any, expected: Any, key: str) -> DeephashError:
    hint = ""
    if isinstance(value, bool) and _describe(expected).startswith(("a string", "one of")):
        hint = "; YAML reads true/false/yes/no as booleans"
    elif isinstance(value, str) and _describe(expected) in ("a number", "an integer"):
        hint = "; quoted in params.yaml?"
    return DeephashError(f"{key}: {value!r} is {type(value).__name__}, expected {_describe(expected)}{hint}")


def from_mapping(cls: type[T], params: Mapping[str, Any], section: str) -> T:
    """``cls(**params)`` for a dataclass, after checking every key is a field and every value its type."""
    hints = typing.get_type_hints(cls)
    check_keys(params, [f.name for f in fields(cls)], section)  # type: ignore[arg-type]
    typed = {key: check_type(value, hints[key], f"{section}.{key}") for key, value in params.items()}
    return cls(**typed)


@dataclass
class Merged:
    """A method's training config: the shared ``train`` keys with the method's overrides applied."""

    train: dict[str, Any]  # the shared keys, overridden ones replaced
    method: dict[str, Any]  # the method's own hyperparameters (keys that are not shared)
    overrides: dict[str, dict[str, Any]]  # key -> {"shared": value, "method": value}

    def lines(self, method: str) -> list[str]:
        """One line per override, as printed when a stage starts."""
        return [
            f"{method}.train.{key}={v['method']} overrides train.{key}={v['shared']}"
            for key, v in self.overrides.items()
        ]


def merge_train(shared: Mapping[str, Any], own: Mapping[str, Any] | None, shared_keys: Iterable[str]) -> Merged:
    """Split a method's ``<method>.train`` section into overrides of the shared ``train`` keys
    (``shared_keys``: the training config's fields) and the method's own hyperparameters."""
    keys = set(shared_keys)
    own = dict(own or {})
    train = dict(shared)
    overrides = {}
    for key in [k for k in own if k in keys]:
        value = own.pop(key)
        if key in train and train[key] != value:
            overrides[key] = {"shared": train[key], "method": value}
        train[key] = value
    return Merged(train=train, method=own, overrides=overrides)


def check_bits(bits: object, key: str = "bits") -> int:
    """The one check of a code length: a positive multiple of 8, since codes are packed into bytes."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or bits <= 0 or bits % 8:
        raise DeephashError(f"{key}: {bits!r} is not a positive multiple of 8 (codes are packed into bytes)")
    return int(bits)


def parse_topk(values: Sequence[object], key: str = "evaluate.topk") -> list[TopK]:
    """The k list of mAP@k (positive integers, ``all``); here, not beside the metrics, so that checking
    params does not load the compiled kernels."""
    if not values:
        raise DeephashError(f"{key}: the list is empty")
    parsed: list[TopK] = []
    for value in values:
        if value == "all":
            parsed.append("all")
        elif isinstance(value, int) and not isinstance(value, bool) and value > 0:
            parsed.append(value)
        else:
            raise DeephashError(f"{key}: expected positive integers or 'all', got {value!r}")
    return parsed
