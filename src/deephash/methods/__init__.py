"""Hashing methods, one module each; ``create_method(name, ...)`` builds one by its params name.

Methods are found by importing every module of this package, so adding one is adding its module
(with a ``@register_method`` class) and its params section; nothing here lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from deephash.methods.base import METHODS, HashingMethod, register_method


@cache
def _import_methods() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def method_class(name: str) -> type[HashingMethod]:
    _import_methods()
    return METHODS.get(name, key="methods")


def create_method(name: str, bits: int, num_classes: int, params: dict[str, Any] | None = None) -> HashingMethod:
    return method_class(name)(bits, num_classes, params)


def list_methods() -> list[str]:
    _import_methods()
    return METHODS.names()


__all__ = ["METHODS", "HashingMethod", "create_method", "list_methods", "method_class", "register_method"]
