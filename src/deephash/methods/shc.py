"""SHC: Deep Hashing with Semantic Hash Centers (Chen et al., ACM TOIS 2025, arXiv 2507.08404).

Stage 1 (``deephash.similarity``) derives a class similarity S from a classifier's confusions;
stage 2 (``deephash.centers``) finds centres whose inner products reproduce S while every pair
stays d bits apart; stage 3 trains toward those centres with the centre loss it shares with CSQ.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np

from deephash.centers import AlmConfig, SearchConfig, semantic_centers
from deephash.config import check_keys
from deephash.errors import DeephashError
from deephash.methods.base import register_method
from deephash.methods.hash_centers import CenterMethod

ALM_KEYS = {f.name for f in fields(AlmConfig)}
SEARCH_KEYS = {f"search_{f.name}" for f in fields(SearchConfig)}
CENTER_KEYS = {"variant", "seed", "polish"} | ALM_KEYS | SEARCH_KEYS


@register_method("shc")
class SHC(CenterMethod):
    @classmethod
    def build_centers(
        cls, num_classes: int, bits: int, similarity: np.ndarray | None, params: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        check_keys(params, CENTER_KEYS, f"{cls.name}.centers")
        if similarity is None:
            raise DeephashError("shc needs the class similarity matrix of the similarity stage")
        alm = AlmConfig(**{k: v for k, v in params.items() if k in ALM_KEYS})
        search = SearchConfig(**{k.removeprefix("search_"): v for k, v in params.items() if k in SEARCH_KEYS})
        centers, report = semantic_centers(
            similarity,
            bits,
            seed=int(params.get("seed", 0)),
            config=alm,
            variant=str(params.get("variant", "semantic")),
            polish_flips=bool(params.get("polish", True)),
            search=search,
        )
        info: dict[str, Any] = {"variant": report.variant, "s_loss_stages": report.s_loss}
        note = report.fallback_note()
        if note is not None:
            info |= {"d": report.d, "d_requested": report.d_requested, "warnings": [note]}
        return centers, info
