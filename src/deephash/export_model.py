"""A trained model as deployable files: ONNX and TorchScript encoders, and the check that they agree.

Both files hold ``deephash.encoder.Encoder``: uint8 NHWC images of the cached size in (any batch
size), packed uint8 codes out. ONNX is written by PyTorch's ``torch.export``-based exporter (the
TorchScript-based one is deprecated); TorchScript by ``torch.jit.trace``, which PyTorch also marks
deprecated but is still what a C++ (libtorch) deployment loads. onnx, onnxscript and onnxruntime
are the ``export`` extra, imported only here.

The check encodes every cached query and database image three ways and counts, per file, the bits
that differ from the PyTorch codes (the pipeline's ``export`` stage's), and among those the ones
where PyTorch's output u is within ``tolerance`` of zero: float rounding between runtimes may flip
only those. A flip anywhere else is an error.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deephash.atomic import atomic_path, write_json
from deephash.checkpoint import eval_config, load_model
from deephash.codes import GROUPS, pack_codes
from deephash.data.arrays import ImageArrays
from deephash.data.cache import load_cache
from deephash.encoder import Encoder, input_shape
from deephash.errors import DeephashError
from deephash.train import predict

ONNX_FILE, TORCHSCRIPT_FILE, META_FILE, CHECK_FILE = "encoder.onnx", "encoder.ts", "encoder.json", "check.json"
RUNTIMES = ("onnxruntime", "torchscript")


@dataclass
class Agreement:
    """How one runtime's codes compare with PyTorch's over the checked images."""

    images: int
    bits: int  # bits compared (images x code length)
    differing_bits: int
    near_zero: int  # differing bits where |u| < tolerance (allowed)
    differing_codes: int  # images whose packed code differs at all


def _optional(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise DeephashError(f"{name} is not installed (pip install 'deephash[export]')") from None


def export_encoder(model: str | Path, out: str | Path) -> dict[str, Any]:
    """Write ``encoder.onnx``, ``encoder.ts`` and ``encoder.json`` (what goes in and out) to ``out``."""
    _optional("onnxscript")  # the exporter's own dependency: a clear line instead of its traceback
    network, _, config = load_model(model)
    height, width, channels = input_shape(config, model)
    encoder = Encoder(network, int(config["bits"]), int(config["train"]["crop"])).eval()
    example = torch.zeros((2, height, width, channels), dtype=torch.uint8)
    meta: dict[str, Any] = {
        "input": {"name": "images", "dtype": "uint8", "layout": "NHWC", "shape": ["batch", height, width, channels]},
        "output": {"name": "codes", "dtype": "uint8", "shape": ["batch", int(config["bits"]) // 8]},
        "bit_order": "numpy.packbits (bit 1 = output >= 0)",
        **{key: config[key] for key in ("method", "bits", "dataset", "classes") if key in config},
    }
    with atomic_path(out, directory=True) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, UserWarning))
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(
            encoder,
            (example,),
            str(tmp / ONNX_FILE),
            input_names=["images"],
            output_names=["codes"],
            dynamic_shapes=({0: batch},),
            dynamo=True,
            external_data=False,  # one self-contained file, weights inside
            verbose=False,
        )
        with torch.no_grad():
            torch.jit.save(torch.jit.trace(encoder, example), str(tmp / TORCHSCRIPT_FILE))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def check_encoder(
    model: str | Path, exported: str | Path, cache: str | Path, tolerance: float = 1e-4, batch_size: int = 256
) -> dict[str, Agreement]:
    """Compare the exported encoders with PyTorch on every image of the cache's query and database
    parts; writes ``check.json`` beside them. A differing bit where |u| >= tolerance is an error."""
    ort = _optional("onnxruntime")
    exported = Path(exported)
    network, _, config = load_model(model)
    preprocessing = eval_config(config)
    options = ort.SessionOptions()
    options.intra_op_num_threads = preprocessing.threads
    session = ort.InferenceSession(str(exported / ONNX_FILE), options, providers=["CPUExecutionProvider"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation (see the module's docstring)
        scripted = torch.jit.load(str(exported / TORCHSCRIPT_FILE))
    runtimes = {
        "onnxruntime": lambda batch: session.run(["codes"], {"images": batch})[0],
        "torchscript": lambda batch: scripted(torch.from_numpy(batch)).numpy(),
    }
    counts = {name: np.zeros(4, np.int64) for name in RUNTIMES}  # differing bits, near zero, codes, images
    closest = np.inf  # the smallest |u| seen: how near the codes came to a flip
    for part in GROUPS:
        images = load_cache(Path(cache) / f"{part}.npy")
        labels = np.zeros((len(images), int(config["num_classes"])), np.uint8)
        outputs = predict(network, ImageArrays(images, labels), preprocessing, batch_size, desc=f"encode {part}")
        expected = pack_codes(outputs.numpy())
        near = np.abs(outputs.numpy()) < tolerance
        closest = min(closest, float(np.abs(outputs.numpy()).min(initial=np.inf)))
        for name, run in runtimes.items():
            with torch.no_grad():
                got = np.concatenate(
                    [run(np.array(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
                )
            differ = np.unpackbits(got ^ expected, axis=1).astype(bool)
            counts[name] += [differ.sum(), (differ & near).sum(), differ.any(axis=1).sum(), len(images)]
    bits = int(config["bits"])
    result = {
        name: Agreement(int(c[3]), int(c[3]) * bits, int(c[0]), int(c[1]), int(c[2])) for name, c in counts.items()
    }
    summary = {"tolerance": tolerance, "min_abs_output": closest, **{k: asdict(v) for k, v in result.items()}}
    write_json(exported / CHECK_FILE, summary)
    for name, agreement in result.items():
        if agreement.differing_bits > agreement.near_zero:
            raise DeephashError(
                f"{agreement.differing_bits - agreement.near_zero} bits differ from PyTorch's where |u| >= {tolerance}",
                path=exported / (ONNX_FILE if name == "onnxruntime" else TORCHSCRIPT_FILE),
            )
    return result
