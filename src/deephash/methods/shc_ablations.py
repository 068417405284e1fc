"""SHC's ablations (the paper's Table 7) as methods of their own, so one report can set them beside SHC.

``shc_dist`` trains toward centres that only keep every pair d bits apart (SHC's feasible
initialisation, S ignored); ``shc_sem`` toward centres fitted to S with no distance bound. Each
has its own params section (``<name>.centers`` with SHC's keys except ``variant``, and
``<name>.train``) and its own centres stage; add the name to ``methods`` to train and report it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from deephash.config import check_keys
from deephash.methods.base import register_method
from deephash.methods.shc import CENTER_KEYS, SHC


class SHCAblation(SHC):
    variant: ClassVar[str]

    @classmethod
    def build_centers(
        cls, num_classes: int, bits: int, similarity: np.ndarray | None, params: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        check_keys(params, CENTER_KEYS - {"variant"}, f"{cls.name}.centers")
        return super().build_centers(num_classes, bits, similarity, {**params, "variant": cls.variant})


@register_method("shc_dist")
class SHCDistanceOnly(SHCAblation):
    variant: ClassVar[str] = "distance_only"


@register_method("shc_sem")
class SHCSemanticOnly(SHCAblation):
    variant: ClassVar[str] = "semantic_only"
