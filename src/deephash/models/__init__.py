"""Backbones (a registry, ``create_backbone``) and the heads that turn features into codes."""

from __future__ import annotations

from deephash.models.backbones import BACKBONES, Backbone, create_backbone, list_backbones
from deephash.models.heads import HashingNetwork, LinearHead

__all__ = [
    "BACKBONES",
    "Backbone",
    "HashingNetwork",
    "LinearHead",
    "create_backbone",
    "list_backbones",
]
