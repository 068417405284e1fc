"""A trained model on disk: ``model.pt`` (state dict) beside ``config.json`` (how to rebuild it).

The config names the method, code length, backbone and preprocessing, so ``export`` and
``search`` rebuild the exact network from the directory alone.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deephash.atomic import atomic_path
from deephash.errors import DeephashError
from deephash.methods import HashingMethod, create_method
from deephash.models import create_backbone
from deephash.train import TrainConfig

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
TRAIN_CODES_FILE = "train_codes.npz"


def save_model(
    directory: str | Path,
    network: nn.Module,
    config: dict[str, Any],
    train_codes: tuple[np.ndarray, list[str]] | None = None,
) -> None:
    """Write the model directory atomically; ``train_codes`` are an asymmetric method's (codes, ids)."""
    with atomic_path(directory, directory=True) as tmp:
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in network.state_dict().items()}, buffer)
        (tmp / MODEL_FILE).write_bytes(buffer.getvalue())
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if train_codes is not None:
            codes, ids = train_codes
            with (tmp / TRAIN_CODES_FILE).open("wb") as f:
                np.savez(f, codes=codes, ids=np.array(ids))


def load_config(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise DeephashError("model directory has no config.json (is it a trained model?)", path=path.parent)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DeephashError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None


def load_model(directory: str | Path) -> tuple[nn.Module, HashingMethod, dict[str, Any]]:
    """Rebuild network and method from a model directory, weights loaded, in eval mode."""
    directory = Path(directory)
    config = load_config(directory)
    try:
        method = create_method(config["method"], config["bits"], config["num_classes"], config["method_params"])
        backbone = create_backbone(
            in_channels=config["channels"], **{**config["backbone"], "weights": "none", "weights_file": None}
        )
    except KeyError as exc:
        raise DeephashError(f"config.json lacks {exc}", path=directory / CONFIG_FILE) from None
    network = method.build_network(backbone)
    try:
        network.load_state_dict(load_weights(directory / MODEL_FILE))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DeephashError(f"weights do not fit the model of config.json ({first[:200]})", path=directory) from None
    return network.eval(), method, config


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict through ``torch.load(weights_only=True)``: a pickle that would call code, or a
    file that is no checkpoint, is refused in one line (nothing of it runs)."""
    import pickle
    import zipfile

    if not path.exists():
        raise DeephashError("model weights not found", path=path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DeephashError(f"refused: not a plain state dict of tensors ({_why(exc)})", path=path) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DeephashError("expected a state dict of tensors", path=path)
    return state


def _why(exc: BaseException) -> str:
    """torch's refusal in a few words (its own text suggests loading the file unsafely)."""
    import re

    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return f"its pickle calls {found.group(1)}; nothing of it ran"
    if "zip archive" in text or "central directory" in text:
        return "not a torch zip archive: truncated or tampered"
    return "its pickle holds more than tensors or is corrupt; nothing of it ran"


def eval_config(config: dict[str, Any]) -> TrainConfig:
    """The preprocessing and thread count the model was trained with, for encoding (device chosen afresh)."""
    return TrainConfig(crop=config["train"]["crop"], threads=config["train"].get("threads", 1), device="auto")


def load_train_codes(directory: str | Path) -> tuple[np.ndarray, list[str]] | None:
    path = Path(directory) / TRAIN_CODES_FILE
    if not path.exists():
        return None
    with np.load(path) as data:
        return data["codes"], [str(x) for x in data["ids"]]
