"""Resumable training: the whole state of a run after each epoch, in one file written atomically.

A checkpoint holds the weights, optimiser, schedule, grad scaler, every random generator, the
objective's state (its buffers plus ``Objective.extra_state``), the best validation epoch so far and
the per-epoch log, so a run killed at any point and started again continues from the last complete
epoch and ends with the same bytes on CPU as a run never interrupted.

Two keys guard it. ``identity`` (method, code length, backbone) says which network the file holds:
a mismatch is refused, as loading it could only be a mistake of paths. ``fingerprint`` hashes
everything else the result depends on (every params value, the training data's ids and labels, the
method's targets and the library's own source): a mismatch means the run changed, and the stale
checkpoint is set aside with a note and training starts afresh.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from deephash.atomic import atomic_path
from deephash.errors import DeephashError

SOURCE = Path(__file__).resolve().parent  # the deephash package: a code change retrains from scratch


def fingerprint(values: object, files: Iterable[Path] = ()) -> str:
    """sha256 of ``values`` (JSON), the bytes of ``files`` and every module of the deephash package."""
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode())
    for path in [*sorted(SOURCE.rglob("*.py")), *sorted(Path(f) for f in files)]:
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass
class Checkpoint:
    """Where a run keeps its state, and what a stored state must match to be resumed."""

    path: Path
    identity: dict[str, Any]
    fingerprint: str

    def load(self) -> dict[str, Any] | None:
        """The stored state, or None when there is none or it belongs to other params (noted on stderr)."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            identity, stored = state["identity"], state["fingerprint"]
        except Exception as exc:  # a file torch cannot read is not a checkpoint of ours
            raise DeephashError(
                f"not a training checkpoint ({type(exc).__name__}); delete it", path=self.path
            ) from None
        if identity != self.identity:
            raise DeephashError(
                f"a checkpoint of {_describe(identity)}, not of {_describe(self.identity)}; delete it to train afresh",
                path=self.path,
            )
        if stored != self.fingerprint:
            print(
                f"note: {self.path} was written with other params, data or code; training from scratch", file=sys.stderr
            )
            return None
        print(f"resuming from {self.path} after epoch {state['epoch']}", file=sys.stderr)
        return state

    def save(self, state: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save({**state, "identity": self.identity, "fingerprint": self.fingerprint}, buffer)
        with atomic_path(self.path) as tmp:
            tmp.write_bytes(buffer.getvalue())


def _describe(identity: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(identity.items()))


def rng_state() -> dict[str, Any]:
    """The global generators (initialisation, dropout): CPU and every CUDA device."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
