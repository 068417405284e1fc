"""A catalogue of bad inputs, as a new user would give them: each ends with exit status 2 and one
line ``deephash: <file>[:<line>]: ...`` that names the file (and line or key), and leaves no output
of the failing stage or command behind. Stages and the CLI run in this process (``capsys``); one
case runs the real CLI, to time the refusal of an impossible request end to end."""

from __future__ import annotations

import io
import pickle
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT, run_stage_in_process
from test_data_files import write_image, write_lines

from deephash import cli
from deephash.errors import DeephashError


@dataclass
class Call:
    """What to run: a stage script's argv, the CLI's argv, or a library call; the words the one
    line must hold (the file first), and the paths that must not exist afterwards."""

    kind: str  # "stage" | "cli" | "call"
    args: list[str] | Callable[[], object]
    names: list[str]
    outputs: list[str]
    script: str = ""
    numbered: bool = False  # the file is named with a line number


def params_file(tmp: Path, edit: Callable[[dict], None] | None = None, text: str | None = None) -> Path:
    path = tmp / "params.yaml"
    if text is not None:
        path.write_bytes(text.encode("latin-1") if "\xe9" in text else text.encode())
        return path
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if edit is not None:
        edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def split_with(tmp: Path, edit: Callable[[dict], None] | None = None, text: str | None = None) -> Call:
    path = params_file(tmp, edit, text)
    return Call(
        "stage",
        ["--params", str(path), "--out", "out/split", "--counts", "out/split.json"],
        [str(path)],
        ["out"],
        "split.py",
    )


def setter(dotted: str, value: object) -> Callable[[dict], None]:
    def edit(params: dict) -> None:
        *head, last = dotted.split(".")
        node = params
        for key in head:
            node = node.setdefault(key, {})
        node[last] = value

    return edit


def params_case(dotted: str, value: object, key: str | None = None) -> Callable[[Path], Call]:
    def make(tmp: Path) -> Call:
        call = split_with(tmp, setter(dotted, value))
        call.names.append(key or dotted)
        call.numbered = True
        return call

    return make


def text_case(text: str, where: str) -> Callable[[Path], Call]:
    def make(tmp: Path) -> Call:
        call = split_with(tmp, text=text)
        call.names[0] += where
        return call

    return make


# --- list files (the `list` adapter) and images ------------------------------------------------


def list_project(tmp: Path, lines: list[str] | bytes) -> Call:
    data = tmp / "lists"
    for i in range(6):
        write_image(data / "img" / f"{i}.jpg", i, size=(12, 10))
    listing = data / "all.txt"
    if isinstance(lines, bytes):
        listing.write_bytes(lines)
    else:
        write_lines(listing, lines)

    def edit(params: dict) -> None:
        params["dataset"] = {"name": "list", "root": str(data), "list": {"lists": "all.txt"}}
        params["split"] = {"protocol": "per_class", "seed": 0, "query": 1, "train": 1, "database": "rest"}

    call = split_with(tmp, edit)
    call.names = [str(listing)]
    return call


GOOD_LINES = [f"img/{i}.jpg " + " ".join("1" if c == i % 2 else "0" for c in range(2)) for i in range(6)]


def list_case(change: Callable[[list[str]], list[str] | bytes], where: str, words: str) -> Callable[[Path], Call]:
    def make(tmp: Path) -> Call:
        call = list_project(tmp, change(list(GOOD_LINES)))
        call.names = [call.names[0] + where, words]
        return call

    return make


def image_case(content: bytes, words: str) -> Callable[[Path], Call]:
    """The split stage runs cleanly, then one image is spoiled and the cache stage must stop."""

    def make(tmp: Path) -> Call:
        call = list_project(tmp, GOOD_LINES)
        params = call.args[1]  # type: ignore[index]
        assert run_stage_in_process("split.py", tmp, pytest.MonkeyPatch(), *call.args) == 0  # type: ignore[misc]
        bad = tmp / "lists" / "img" / "3.jpg"
        bad.write_bytes(content)
        args = ["--params", params, "--split", "out/split", "--out", "cache", "--bad", "bad.txt"]
        return Call("stage", args, [str(bad), words], ["cache", "bad.txt"], "cache.py")

    return make


# --- HDF5 codes files --------------------------------------------------------------------------


def codes_file(path: Path, change: Callable[[h5py.File], None] = lambda f: None) -> Path:
    with h5py.File(path, "w") as f:
        f.attrs.update({"bits": np.int64(16), "method": "shc", "dataset": "x"})
        for name, rows in (("query", 3), ("database", 5)):
            group = f.create_group(name)
            group["codes"] = np.arange(rows * 2, dtype=np.uint8).reshape(rows, 2)
            group["labels"] = np.eye(2, dtype=np.uint8)[np.arange(rows) % 2]
            group["ids"] = np.array([f"{name}{i}".encode() for i in range(rows)])
        change(f)
    return path


def replace(f: h5py.File, name: str, value: np.ndarray) -> None:
    del f[name]
    f[name] = value


def codes_case(change: Callable[[h5py.File], None], words: str) -> Callable[[Path], Call]:
    def make(tmp: Path) -> Call:
        path = codes_file(tmp / "codes.h5", change)
        return Call("cli", ["evaluate", "--codes", str(path), "--out", "m.json"], [str(path), words], ["m.json"])

    return make


def raw_codes_case(content: bytes, words: str) -> Callable[[Path], Call]:
    def make(tmp: Path) -> Call:
        path = tmp / "codes.h5"
        path.write_bytes(content)
        return Call("cli", ["evaluate", "--codes", str(path), "--out", "m.json"], [str(path), words], ["m.json"])

    return make


# --- similarity matrices (the CLI's centers command) ---------------------------------------------


def similarity_case(array: object, words: str, bits: str = "16") -> Callable[[Path], Call]:
    def make(tmp: Path) -> Call:
        path = tmp / "S.npy"
        if isinstance(array, bytes):
            path.write_bytes(array)
        else:
            np.save(path, array, allow_pickle=True)
        args = ["centers", "--similarity", str(path), "--bits", bits, "--out", "c.npy", "--cycles", "1"]
        return Call("cli", args, [str(path), words], ["c.npy"])

    return make


def nan_matrix() -> np.ndarray:
    s = np.eye(4)
    s[0, 1] = np.nan
    return s


# --- checkpoints and pickles ---------------------------------------------------------------------


class RunsCode:
    """Unpickling this calls ``Path.touch(marker)``: proof that code ran, if the marker appears."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def weights_case(content: Callable[[Path], bytes], words: str) -> Callable[[Path], Call]:
    def make(tmp: Path) -> Call:
        from deephash.checkpoint import load_weights

        path = tmp / "model.pt"
        path.write_bytes(content(tmp / "marker"))
        return Call("call", lambda: load_weights(path), [str(path), words], ["marker"])

    return make


def saved(state: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def tampered(_: Path) -> bytes:
    data = bytearray(saved({"w": torch.ones(4)}))
    data[len(data) // 2 : len(data) // 2 + 16] = b"\x00" * 16
    return bytes(data[: len(data) * 3 // 4])


def cifar_case(tmp: Path) -> Call:
    from deephash.data.cifar import load_pickle

    path = tmp / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": RunsCode(tmp / "marker")}))
    return Call("call", lambda: load_pickle(path), [str(path), "refused global"], ["marker"])


CASES: dict[str, Callable[[Path], Call]] = {
    # params.yaml (each through the split stage, which validates the whole file first)
    "params not YAML": text_case("dataset: [1, 2\nsplit: {}\n", ":2"),
    "params top level a list": text_case("- 1\n- 2\n", ""),
    "params not UTF-8": text_case("dataset: caf\xe9\n", ""),
    "params unknown top-level key": params_case("bitz", [16]),
    "bits not a multiple of 8": params_case("bits", [16, 12], "bits"),
    "bits zero": params_case("bits", [0], "bits"),
    "unknown method": params_case("methods", ["shc", "shcc"], "did you mean shc"),
    "empty methods list": params_case("methods", [], "methods"),
    "epochs a string": params_case("train.epochs", "ten"),
    "negative lr": params_case("train.lr", -1.0),
    "k <= 0 in evaluate.topk": params_case("evaluate.topk", [0, "all"]),
    "empty topk list": params_case("evaluate.topk", []),
    "report metric not measured": params_case("report.metrics", ["map@5000"]),
    "negative seed": params_case("seeds", [-1]),
    "repeated seed": params_case("seeds", [0, 0]),
    "unknown dataset": params_case("dataset.name", "digitpairs", "did you mean digit-pairs"),
    "unknown split protocol": params_case("split.protocol", "per-class"),
    "negative cache size": params_case("cache.size", -4),
    "unknown on_bad_image": params_case("cache.on_bad_image", "ignore"),
    "similarity mask a boolean": params_case("similarity.mask", True),
    "unknown backbone": params_case("train.backbone", {"name": "resnet43", "weights": "none"}, "backbone.name"),
    "unknown preset": params_case("preset", "shc-cifar1"),
    "unknown method option": params_case("shc.train.quantisation", 0.1),
    # list files
    "list path leaves the root": list_case(lambda ls: [*ls, "../escape.jpg 1 0"], ":7", "outside the dataset root"),
    "list absolute path": list_case(lambda ls: ["/etc/passwd 1 0", *ls], ":1", "outside the dataset root"),
    "list not UTF-8": list_case(lambda ls: "\n".join(ls).encode() + b"\nimg/\xff.jpg 1 0\n", ":7", "UTF-8"),
    "label vector of the wrong width": list_case(lambda ls: [*ls[:3], "img/3.jpg 1 0 0", *ls[4:]], ":4", "2 labels"),
    "label not 0/1": list_case(lambda ls: [*ls[:2], "img/2.jpg 2 0", *ls[3:]], ":3", "not 0 or 1"),
    "label vector all zero": list_case(lambda ls: [*ls[:1], "img/1.jpg 0 0", *ls[2:]], ":2", "no label is 1"),
    "listed image missing": list_case(lambda ls: [*ls, "img/9.jpg 1 0"], ":7", "not found"),
    "duplicate list line": list_case(lambda ls: [*ls, ls[0]], ":7", "duplicate image"),
    "empty list": list_case(lambda ls: [], "", "empty"),
    # images (the cache stage)
    "truncated JPEG": image_case(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "unreadable or truncated image"),
    "0-byte image": image_case(b"", "unreadable or truncated image"),
    "text file named .jpg": image_case(b"just some text, not pixels\n", "unreadable or truncated image"),
    # HDF5 codes (the CLI's evaluate)
    "codes of the wrong width": codes_case(lambda f: replace(f, "query/codes", np.zeros((3, 4), np.uint8)), "uint8"),
    "codes not uint8": codes_case(lambda f: replace(f, "query/codes", np.zeros((3, 2), np.float32)), "uint8"),
    "missing group": codes_case(lambda f: f.__delitem__("database"), "/database"),
    "zero rows": codes_case(
        lambda f: (
            [replace(f, f"query/{k}", v[:0]) for k, v in (("codes", f["query/codes"][()]),)]
            + [replace(f, "query/labels", np.zeros((0, 2), np.uint8)), replace(f, "query/ids", np.array([], "S1"))]
        ),
        "no rows",
    ),
    "missing attribute": codes_case(lambda f: f.attrs.__delitem__("bits"), "'bits'"),
    "bits attribute not a multiple of 8": codes_case(lambda f: f.attrs.__setitem__("bits", 12), "multiple of 8"),
    "labels not 0/1": codes_case(lambda f: replace(f, "database/labels", np.full((5, 2), 3, np.uint8)), "0/1"),
    "labels and codes of different lengths": codes_case(
        lambda f: replace(f, "query/labels", np.eye(2, dtype=np.uint8)), "different lengths"
    ),
    "codes file of random bytes": raw_codes_case(bytes(range(256)) * 4, "not an HDF5 file"),
    # similarity matrices (the CLI's centers)
    "similarity not square": similarity_case(np.zeros((3, 4)), "square"),
    "similarity one-dimensional": similarity_case(np.zeros(4), "square"),
    "similarity not finite": similarity_case(nan_matrix(), "non-finite"),
    "similarity object array": similarity_case(np.array([{"a": 1}] * 4, dtype=object), "numeric"),
    "similarity not .npy": similarity_case(b"1,2\n3,4\n", "numeric"),
    "more classes than 2^bits": similarity_case(np.eye(300), "smallest code length that works is 16 bits", "8"),
    # checkpoints and pickles
    "tampered checkpoint": weights_case(tampered, "refused"),
    "pickled weights that would run code": weights_case(
        lambda marker: pickle.dumps({"w": RunsCode(marker)}), "refused"
    ),
    "torch.save of an object that runs code": weights_case(lambda marker: saved({"w": RunsCode(marker)}), "refused"),
    "weights of random bytes": weights_case(lambda _: bytes(range(256)) * 8, "refused"),
    "weights that are not tensors": weights_case(lambda _: saved({"w": 3}), "state dict of tensors"),
    "CIFAR pickle that runs code": cifar_case,
    # CLI arguments
    "CLI --bits 12": lambda tmp: Call(
        "cli", ["centers", "--similarity", "S.npy", "--bits", "12", "--out", "c.npy"], ["--bits", "of 8"], ["c.npy"]
    ),
    "CLI --topk 0": lambda tmp: Call(
        "cli",
        ["evaluate", "--codes", str(codes_file(tmp / "c.h5")), "--out", "m.json", "--topk", "0"],
        ["--topk"],
        ["m.json"],
    ),
    "CLI missing codes file": lambda tmp: Call(
        "cli",
        ["evaluate", "--codes", str(tmp / "none.h5"), "--out", "m.json"],
        [str(tmp / "none.h5"), "not found"],
        ["m.json"],
    ),
    "CLI missing similarity": lambda tmp: Call(
        "cli",
        ["centers", "--similarity", str(tmp / "S.npy"), "--bits", "16", "--out", "c.npy"],
        [str(tmp / "S.npy")],
        ["c.npy"],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_is_one_line_naming_the_file_and_leaves_nothing(case, tmp_path, monkeypatch, capsys):
    call = CASES[case](tmp_path)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    if call.kind == "stage":
        status = run_stage_in_process(call.script, tmp_path, monkeypatch, *call.args)  # type: ignore[misc]
        lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("deephash: ")]
    elif call.kind == "cli":
        status = cli.main(call.args)  # type: ignore[arg-type]
        lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("deephash: ")]
    else:
        with pytest.raises(DeephashError) as info:
            call.args()  # type: ignore[operator]
        status, lines = 2, [f"deephash: {info.value}"]
    lines = [line for line in lines if not line.startswith("deephash: warning: ")]
    assert status == 2, lines
    assert len(lines) == 1, lines
    (line,) = lines
    assert "\n" not in line and "Traceback" not in line
    where, *words = call.names
    assert line.startswith(f"deephash: {where}"), line
    if call.numbered:
        assert re.match(rf"deephash: {re.escape(where)}:\d+: ", line), line
    for word in words:
        assert word in line, line
    for output in call.outputs:
        assert not (tmp_path / output).exists(), output
    assert not list(tmp_path.rglob(".*.tmp-*"))


def test_the_real_cli_refuses_more_classes_than_codes_at_once(tmp_path):
    np.save(tmp_path / "S.npy", np.eye(300))
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "deephash", "centers", "--similarity", "S.npy", "--bits", "8", "--out", "c.npy"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - start < 20  # generous: interpreter start-up on a loaded machine; the search ran minutes
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("deephash: S.npy: 300 classes cannot have distinct centres in 8 bits")
    assert not (tmp_path / "c.npy").exists()


def test_catalogue_is_large_enough():
    assert len(CASES) >= 40
