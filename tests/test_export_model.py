"""The exported encoders (ONNX Runtime, TorchScript) give the PyTorch codes on every cached image."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    import contextlib
    import io

    from deephash.cli import main

    root, _ = trained
    out = tmp_path_factory.mktemp("exported") / "encoder"
    argv = ["export-model", "--model", str(root / "model"), "--out", str(out), "--cache", str(root / "cache")]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(argv) == 0
    return root, out, printed.getvalue().splitlines()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_exported_encoders_match_pytorch(exported):
    import onnxruntime

    from deephash.codes import read_codes

    root, out, lines = exported
    assert lines[0].startswith(f"wrote {out}: encoder.onnx, encoder.ts (uint8 NHWC [batch x 8 x 8 x 1]")
    check = json.loads((out / "check.json").read_text())
    for runtime in ("onnxruntime", "torchscript"):
        assert check[runtime]["images"] == 40 and check[runtime]["bits"] == 40 * 16
        assert check[runtime]["differing_bits"] == check[runtime]["near_zero"]  # flips only next to zero
        assert any(line.startswith(f"{runtime}: {check[runtime]['differing_bits']} of 640 bits") for line in lines)
    assert sorted(f.name for f in out.iterdir()) == ["check.json", "encoder.json", "encoder.onnx", "encoder.ts"]
    meta = json.loads((out / "encoder.json").read_text())
    assert meta["input"] == {"name": "images", "dtype": "uint8", "layout": "NHWC", "shape": ["batch", 8, 8, 1]}
    # the files alone, outside deephash: the codes the export stage wrote, for any batch size
    codes = read_codes(root / "codes.h5")
    images = np.load(root / "cache" / "database.npy")
    session = onnxruntime.InferenceSession(str(out / "encoder.onnx"), providers=["CPUExecutionProvider"])
    scripted = torch.jit.load(str(out / "encoder.ts"))
    for rows in (slice(0, 1), slice(0, 35), slice(3, 10)):
        np.testing.assert_array_equal(session.run(None, {"images": images[rows]})[0], codes.database.codes[rows])
        np.testing.assert_array_equal(
            scripted(torch.from_numpy(images[rows].copy())).numpy(), codes.database.codes[rows]
        )


@pytest.mark.filterwarnings("ignore:`torch.jit")
def test_check_finds_an_encoder_that_differs(exported, tmp_path):
    import shutil

    from deephash.encoder import load_encoder
    from deephash.errors import DeephashError
    from deephash.export_model import check_encoder

    root, out, _ = exported
    copy = tmp_path / "encoder"
    shutil.copytree(out, copy)
    encoder, _ = load_encoder(root / "model")
    with torch.no_grad():
        for parameter in encoder.network.head.parameters():
            parameter.neg_()  # every code flipped
        torch.jit.save(torch.jit.trace(encoder, torch.zeros((1, 8, 8, 1), dtype=torch.uint8)), str(copy / "encoder.ts"))
    with pytest.raises(DeephashError, match=r"encoder\.ts: \d+ bits differ from PyTorch's where \|u\| >= 0.0001"):
        check_encoder(root / "model", copy, root / "cache")
