"""SHC's variants as methods of their own, so one report can set them beside SHC.

``shc_paper`` is SHC's centre optimisation as the paper wrote it: the augmented-Lagrangian fit only,
without deephash's polishing descent and annealed search (``polish: false``), so the report shows
what the paper's stage 2 gives and what deephash adds. The ablations of the paper's Table 7:
``shc_dist`` trains toward centres that only keep every pair d bits apart (SHC's feasible
initialisation, S ignored); ``shc_sem`` toward centres fitted to S with no distance bound.
Each has its own params section (``<name>.centers`` with SHC's keys except those the variant fixes,
and ``<name>.train``); add the name to ``methods`` to train and report it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from deephash.config import check_keys
from deephash.methods.base import register_method
from deephash.methods.shc import CENTER_KEYS, SEARCH_KEYS, SHC


class SHCVariant(SHC):
    #: the centre params the variant sets itself (refused in its params section)
    fixed: ClassVar[dict[str, Any]]

    @classmethod
    def build_centers(
        cls, num_classes: int, bits: int, similarity: np.ndarray | None, params: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        unused = SEARCH_KEYS if cls.fixed.get("polish") is False else set()
        check_keys(params, CENTER_KEYS - set(cls.fixed) - unused, f"{cls.name}.centers")
        return super().build_centers(num_classes, bits, similarity, {**params, **cls.fixed})


@register_method("shc_paper")
class SHCPaper(SHCVariant):
    fixed: ClassVar[dict[str, Any]] = {"variant": "semantic", "polish": False}


@register_method("shc_dist")
class SHCDistanceOnly(SHCVariant):
    fixed: ClassVar[dict[str, Any]] = {"variant": "distance_only"}


@register_method("shc_sem")
class SHCSemanticOnly(SHCVariant):
    fixed: ClassVar[dict[str, Any]] = {"variant": "semantic_only"}
