"""Hashing methods, one module each; ``create_method(name, ...)`` builds one by its params name."""

from __future__ import annotations

from typing import Any

from deephash.methods.base import METHODS, HashingMethod, register_method


def _import_methods() -> None:
    from deephash.methods import csq, hashnet, semicon, shc, shc_ablations, ssdh, triplet  # noqa: F401


def method_class(name: str) -> type[HashingMethod]:
    _import_methods()
    return METHODS.get(name, key="methods")


def create_method(name: str, bits: int, num_classes: int, params: dict[str, Any] | None = None) -> HashingMethod:
    return method_class(name)(bits, num_classes, params)


def list_methods() -> list[str]:
    _import_methods()
    return METHODS.names()


__all__ = ["METHODS", "HashingMethod", "create_method", "list_methods", "method_class", "register_method"]
