"""Params read as DVC writes them (YAML 1.2), typed against the configs, and bad ones refused in one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "stages"))

import common  # noqa: E402
from deephash.config import check_type, from_mapping, merge_train, suggest  # noqa: E402
from deephash.errors import DeephashError  # noqa: E402
from deephash.methods import create_method  # noqa: E402
from deephash.train import TrainConfig  # noqa: E402

DEFAULT = (ROOT / "params.yaml").read_text(encoding="utf-8")


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """The default params.yaml with one line changed (the first occurrence of ``old``)."""
    assert old in DEFAULT, old
    path = tmp_path / "params.yaml"
    path.write_text(DEFAULT.replace(old, new, 1), encoding="utf-8")
    return path


def with_value(tmp_path: Path, section: str, key: str, value: str) -> Path:
    """The default params.yaml with ``section.key`` (a top-level section's direct key) set to ``value``."""
    lines = DEFAULT.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{section}:"))
    at = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(f"  {key}:"))
    lines[at] = f"  {key}: {value}\n"
    path = tmp_path / "params.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(("written", "value"), [("7e-05", 7e-05), ("1e-4", 1e-4), ("7.0e-05", 7e-05), ("2", 2.0)])
def test_numbers_as_dvc_writes_them_are_floats(tmp_path, written, value):
    """`dvc exp run -S train.lr=7e-5` writes `7e-05`: YAML 1.1 (PyYAML) reads a string, 1.2 a float."""
    params = common.load_params(with_value(tmp_path, "train", "lr", written))
    lr = params["train"]["lr"]
    config = TrainConfig.from_params({k: v for k, v in params["train"].items() if k != "backbone"})
    assert config.lr == value and isinstance(config.lr, float)
    assert lr == value


def test_a_string_where_a_number_is_expected_names_key_value_type_and_line(tmp_path):
    path = edited(tmp_path, "  epochs: 20\n", "  epochs: twenty\n")
    with pytest.raises(DeephashError) as info:
        common.load_params(path)
    line = line_of(path, "epochs: twenty")
    assert (
        str(info.value) == f"{path}:{line}: train.epochs: 'twenty' is str, expected an integer; quoted in params.yaml?"
    )


def test_a_boolean_for_an_option_suggests_the_renamed_value(tmp_path):
    """`-S similarity.mask=true` (the old documented value) arrives as a boolean."""
    path = edited(tmp_path, "  mask: predicted", "  mask: true")
    with pytest.raises(DeephashError, match=r"similarity\.mask: True is not an option .*'label'"):
        common.load_params(path)


def test_a_boolean_is_not_a_number_nor_a_float_an_integer():
    with pytest.raises(DeephashError, match=r"train\.epochs: True is bool, expected an integer"):
        check_type(True, int, "train.epochs")
    with pytest.raises(DeephashError, match=r"train\.epochs: 1\.5 is float, expected an integer"):
        check_type(1.5, int, "train.epochs")
    assert check_type(3, float, "train.lr") == 3.0 and isinstance(check_type(3, float, "train.lr"), float)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  eta_min: 1.0e-7\n  device",
            "  eta_mni: 1.0e-7\n  device",
            r"train\.eta_mni: unknown key \(did you mean eta_min\?\)",
        ),
        ("methods: [shc, csq,", "methods: [shc, cqs,", r"methods: unknown method 'cqs' \(did you mean csq\?\)"),
        (
            "  name: digit-pairs",
            "  name: digit-pair",
            r"dataset\.name: unknown dataset 'digit-pair' \(did you mean digit-pairs\?\)",
        ),
        (
            "  protocol: per_class",
            "  protocol: per-class",
            r"split\.protocol: unknown protocol 'per-class' \(did you mean per_class\?\)",
        ),
        (
            "  backbone: {name: smallcnn",
            "  backbone: {name: resnet43",
            r"backbone\.name: unknown backbone 'resnet43' \(did you mean resnet34\?\)",
        ),
        ("bits: [16, 32, 64]", "bitz: [16, 32, 64]", r"bitz: unknown top-level key \(did you mean bits\?\)"),
        (
            "    sample_seed: 0",
            "    sampel_seed: 0",
            r"semicon\.train\.sampel_seed: unknown key \(did you mean sample_seed\?\)",
        ),
        ("    margin: 0.4", "    margin: wide", r"triplet\.train\.margin: 'wide' is str, expected a number"),
        (
            "  metrics: [map@100, map@all]",
            "  metrics: [map@5000, map@all]",
            r"report\.metrics: map@5000 is not measured",
        ),
        ("  size: 0 ", "  size: 0.5 ", r"cache\.size: expected an image side >= 0 .* got 0\.5"),
        (
            "  on_bad_image: fail",
            "  on_bad_image: skipp",
            r"cache\.on_bad_image: unknown option 'skipp' \(did you mean skip\?\)",
        ),
        ("preset: default", "preset: shc-cifar10", r"preset: no preset 'shc-cifar10' \(did you mean shc-cifar100\?"),
    ],
)
def test_bad_params_are_one_line_with_the_closest_name(tmp_path, old, new, message):
    path = edited(tmp_path, old, new)
    with pytest.raises(DeephashError, match=message) as info:
        common.load_params(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{path}:")


def test_from_mapping_types_every_field():
    config = from_mapping(TrainConfig, {"lr": 1, "epochs": 3, "hflip": True}, "train")
    assert config.lr == 1.0 and isinstance(config.lr, float)
    with pytest.raises(DeephashError, match=r"similarity\.hflip: 'yes' is str, expected a boolean"):
        from_mapping(TrainConfig, {"hflip": "yes"}, "similarity")


def test_suggest_lists_the_known_names_when_nothing_is_close():
    assert suggest("lrr", ["lr", "epochs"]) == "did you mean lr?"
    assert suggest("zzz", ["lr", "epochs"]) == "known: epochs, lr"


def test_method_overrides_are_split_from_the_method_keys_and_described():
    merged = merge_train({"epochs": 20, "lr": 1e-3}, {"epochs": 15, "lr": 1e-3, "alpha": 0.15}, ["epochs", "lr"])
    assert merged.train == {"epochs": 15, "lr": 1e-3}
    assert merged.method == {"alpha": 0.15}
    assert merged.overrides == {"epochs": {"shared": 20, "method": 15}}  # an equal value is no override
    assert merged.lines("semicon") == ["semicon.train.epochs=15 overrides train.epochs=20"]


def test_semicon_has_its_own_sampling_seed_beside_the_training_seed():
    """semicon.train.seed used to reach the shared training config, so SEMICON's draws were stuck at 0."""
    params = common.load_params(ROOT / "params.yaml")
    shared = {k: v for k, v in params["train"].items() if k != "backbone"}
    merged = merge_train(shared, {**params["semicon"]["train"], "sample_seed": 7}, TrainConfig.__dataclass_fields__)
    # the network's seed is the stage's --seed (one of params.yaml: seeds), never the method section's
    assert merged.method["sample_seed"] == 7 and "seed" not in merged.train
    codes = [create_method("semicon", 16, 3, {"sample_seed": s}) for s in (0, 0, 7)]
    for method in codes:
        method.load_targets(Path("."), [[1, 0, 0]] * 20)
    assert (codes[0].codes == codes[1].codes).all() and not (codes[0].codes == codes[2].codes).all()


def stage(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / "split.py"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_a_stage_answers_bad_params_in_one_line_exit_2_and_a_traceback_only_when_debugging(tmp_path):
    with_value(tmp_path, "train", "lr", "fast")
    out = stage(tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert re.fullmatch(
        r"deephash: params\.yaml:\d+: train\.lr: 'fast' is str, expected a number; quoted in params\.yaml\?\n",
        out.stderr,
    )
    assert not (tmp_path / "data").exists()
    for debug in (stage(tmp_path, "--debug"), stage(tmp_path, env={"DEEPHASH_DEBUG": "1"})):
        assert debug.returncode != 0 and "Traceback" in debug.stderr and "train.lr" in debug.stderr


def test_the_cli_answers_in_the_same_style(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "deephash", "centers", "--similarity", "missing.npy", "--bits", "16", "--out", "c.npy"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and out.stderr == "deephash: missing.npy: similarity matrix not found\n"
    debug = subprocess.run(
        [
            sys.executable,
            "-m",
            "deephash",
            "--debug",
            "centers",
            "--similarity",
            "missing.npy",
            "--bits",
            "16",
            "--out",
            "c.npy",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "Traceback" in debug.stderr


def test_not_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: [1\n", encoding="utf-8")
    with pytest.raises(DeephashError, match=rf"^{re.escape(str(path))}:\d+: not valid YAML"):
        common.load_params(path)


def test_anchors_and_merge_keys_are_plain_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("base: &b {epochs: 3}\ntrain:\n  <<: *b\n  lr: 1\n", encoding="utf-8")
    assert common.load_params(path, validate=False)["train"] == {"epochs": 3, "lr": 1}
    with pytest.raises(DeephashError, match=r"params\.yaml:1: base: unknown top-level key"):
        common.load_params(path)


TOKENS = [*"ab: -[]{}&*!|>'\"#\n\t0123.e+%@`,?<", "train", "lr", "  ", "true", "7e-05"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_no_text_fails_the_loader_with_anything_but_the_clear_error(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        common.load_params(path)
    except DeephashError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))


def _paths(node: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(node, dict):
        return [prefix]
    return (
        [prefix, *[p for k, v in node.items() for p in _paths(v, (*prefix, k))]]
        if prefix
        else [p for k, v in node.items() for p in _paths(v, (k,))]
    )


DEFAULT_PARAMS = common.load_params(ROOT / "params.yaml")
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False),
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["a", "lr"]), st.integers(), max_size=1),
)


@settings(max_examples=300, deadline=None)
@given(where=st.sampled_from(_paths(DEFAULT_PARAMS)), value=VALUES, training=st.booleans())
def test_any_value_anywhere_is_accepted_or_refused_clearly(where, value, training):
    import copy

    params = copy.deepcopy(DEFAULT_PARAMS)
    node = params
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    try:
        common.validate_params(params, training)
    except DeephashError as exc:
        assert "\n" not in str(exc)


def test_the_stages_without_torch_check_params_without_importing_it(tmp_path):
    """cache, evaluate and report never import torch; their check leaves out the training sections, and
    loads no compiled kernels either (numba)."""
    code = (
        "import sys; sys.path.insert(0, 'stages'); import common; "
        "common.load_params('params.yaml', training=False); print('torch' in sys.modules, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False False", out.stderr
    path = with_value(tmp_path, "evaluate", "topk", "[100, 1000, al]")
    with pytest.raises(DeephashError, match=r"evaluate\.topk: expected positive integers or 'all', got 'al'"):
        common.load_params(path, training=False)


def test_the_stronger_settings_overrides_pass_validation():
    """benchmarks/strong.py's setting (a [H, W] cache size, ResNet-18) is what a user types: it must validate."""
    import copy

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from pipeline import overridden
    from strong import SETTING

    params = overridden(copy.deepcopy(DEFAULT_PARAMS), SETTING)
    assert params["cache"]["size"] == [32, 64]
    common.validate_params(params)
