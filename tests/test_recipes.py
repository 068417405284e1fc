"""Every `dvc exp run` the README documents, applied as DVC applies it and validated by the stages.

Each command is parsed by DVC's own argument parser, its ``-S`` overrides grouped by DVC, sweeps
expanded by DVC, and params.yaml composed by DVC's Hydra code from ``conf/`` (or the overrides
applied to a copy of params.yaml under ``--no-hydra``), exactly as ``dvc exp run`` does before any
stage runs. The result must pass the stages' own loader, so a documented command cannot rot.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from configparser import ConfigParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "stages"))

import common  # noqa: E402  (stages/common.py: the stages' loader and validator)
from deephash.data import list_datasets  # noqa: E402
from deephash.errors import DeephashError  # noqa: E402


def readme_commands() -> list[str]:
    """Every ``dvc exp run`` of the README: lines of code blocks and inline spans (which may wrap)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)
    for block in blocks:
        commands += [line.strip() for line in block.splitlines() if line.strip().startswith("dvc exp run")]
    prose = re.sub(r"^```[a-z]*\n.*?^```", "", text, flags=re.S | re.M)
    commands += [" ".join(span.split()) for span in re.findall(r"`(dvc exp run[^`]*)`", prose)]
    return list(dict.fromkeys(c for c in commands if "..." not in c))  # `-S train.lr=...` is prose, not a recipe


COMMANDS = readme_commands()


def hydra_enabled() -> bool:
    config = ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    return config.get("hydra", "enabled", fallback="false").strip().lower() == "true"


def apply_like_dvc(command: str, out: Path) -> list[Path]:
    """The params.yaml files ``command`` would run with (one per sweep point), written under ``out``."""
    from dvc.cli import parse_args
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import apply_overrides, compose_and_dump, get_hydra_sweeps

    args = parse_args(shlex.split(command, comments=True)[1:])
    by_file = to_path_overrides(args.set_param or [])
    assert set(by_file) <= {"params.yaml"}, f"{command}: only params.yaml is documented"
    hydra = hydra_enabled() and not args.no_hydra
    sweeps = get_hydra_sweeps(by_file) if args.queue and by_file else [by_file]
    written = []
    for i, sweep in enumerate(sweeps):
        path = out / f"params-{i}.yaml"
        overrides = list(sweep.get("params.yaml", []))
        if hydra:
            compose_and_dump(path, str(ROOT / "conf"), None, "config", str(ROOT), overrides)
        else:
            shutil.copy(ROOT / "params.yaml", path)
            apply_overrides(path, overrides)
        written.append(path)
    return written


def test_the_readme_documents_the_presets():
    presets = [c for c in COMMANDS if "preset=" in c]
    assert len(COMMANDS) >= 10 and len(presets) >= 9
    documented = {m for c in presets for m in re.findall(r"preset=([\w,-]+)", c)}
    assert {name for entry in documented for name in entry.split(",")} >= set(common.presets()) - {"default"}


@pytest.mark.parametrize("command", COMMANDS, ids=[c.partition("#")[0].strip() for c in COMMANDS])
def test_readme_command_composes_valid_params(command, tmp_path):
    missing = [name for name in re.findall(r"dataset\.name=([\w-]+)", command) if name not in list_datasets()]
    for path in apply_like_dvc(command, tmp_path):
        composed = common.load_params(path, validate=False)
        needed = composed.get("dataset", {}).get("name")
        if needed not in list_datasets() or missing:
            pytest.skip(f"the {needed or missing} adapter is not in this checkout")
        common.load_params(path)  # the stages' own loader and validator
        for override in shlex.split(command, comments=True):
            key, sep, value = override.lstrip("+").partition("=")
            if sep and "," not in value and not key.startswith(("preset", "-")) and "[" not in value:
                node = composed
                for part in key.split("."):
                    node = node[part]
                assert str(node) == value or _number(node) == _number(value), f"{key}: {node!r} after {command}"


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize("preset", common.presets())
def test_every_preset_composes_and_names_itself(preset, tmp_path):
    from dvc.utils.hydra import compose_and_dump

    path = tmp_path / "params.yaml"
    compose_and_dump(path, str(ROOT / "conf"), None, "config", str(ROOT), [f"preset={preset}"])
    params = common.load_params(path, validate=False)
    assert params["preset"] == preset
    if preset != "default":  # a paper's recipe: its method alone, on 224-px crops (conf/base/ included)
        assert len(params["methods"]) == 1 and params["methods"][0] in preset
        assert params["train"]["crop"] == 224 and params["train"]["backbone"]["weights"] == "imagenet"
    if params["dataset"]["name"] not in list_datasets():
        pytest.skip(f"the {params['dataset']['name']} adapter is not in this checkout")
    common.load_params(path)
    measured = {f"map@{k}" for k in params["evaluate"]["topk"]}
    assert set(params["report"]["metrics"]) <= measured and params["report"]["curve_metric"] in measured


def test_params_yaml_is_the_composition_of_conf(tmp_path):
    """`dvc repro` runs params.yaml as it is, `dvc exp run` composes it from conf/: they must agree."""
    from dvc.utils.hydra import compose_and_dump

    assert hydra_enabled(), ".dvc/config: hydra.enabled must be true for the README's presets"
    path = tmp_path / "params.yaml"
    compose_and_dump(path, str(ROOT / "conf"), None, "config", str(ROOT), [])
    composed, committed = common.load_params(path), common.load_params(ROOT / "params.yaml")
    assert composed == committed, (
        "params.yaml differs from conf/config.yaml, whose text below the defaults list is params.yaml's: "
        "{ awk '1; /^  - preset: default$/ {exit}' conf/config.yaml; echo; cat params.yaml; } > c"
        " && mv c conf/config.yaml"
    )


def test_an_unknown_preset_is_refused_with_the_available_ones(tmp_path):
    from dvc.utils.hydra import compose_and_dump

    with pytest.raises(Exception, match="preset") as info:
        compose_and_dump(tmp_path / "p.yaml", str(ROOT / "conf"), None, "config", str(ROOT), ["preset=shc-cifar10"])
    assert all(name in str(info.value) for name in ("shc-cifar100", "shc-cars", "csq-coco"))


def test_a_hand_composed_unknown_preset_is_one_line_exit_2(tmp_path):
    text = (ROOT / "params.yaml").read_text(encoding="utf-8").replace("preset: default", "preset: shc-cifar10", 1)
    (tmp_path / "params.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(DeephashError, match=r"preset: no preset 'shc-cifar10' \(did you mean shc-cifar100\?"):
        common.load_params(tmp_path / "params.yaml")
    out = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "split.py"), "--params", "params.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert re.match(r"deephash: params\.yaml:\d+: preset: no preset 'shc-cifar10'", out.stderr), out.stderr
    assert "available: csq-coco, default," in out.stderr


@pytest.mark.parametrize("flag", ["", "--no-hydra"])
def test_small_learning_rates_arrive_as_numbers(tmp_path, flag):
    """DVC writes 7e-5 as `7e-05` (ruamel, --no-hydra) or `7.0e-05` (Hydra): both are floats to the stages."""
    (path,) = apply_like_dvc(f"dvc exp run {flag} -S train.lr=7e-5 -S similarity.lr=1e-4", tmp_path)
    params = common.load_params(path)
    assert params["train"]["lr"] == 7e-05 and params["similarity"]["lr"] == 1e-4


@pytest.mark.parametrize("flag", ["", "--no-hydra"])
def test_the_old_boolean_mask_value_is_refused_with_the_new_name(tmp_path, flag):
    (path,) = apply_like_dvc(f"dvc exp run {flag} -S similarity.mask=true", tmp_path)
    with pytest.raises(DeephashError, match=r"similarity\.mask: True is not an option .*'label'"):
        common.load_params(path)
    (path,) = apply_like_dvc(f"dvc exp run {flag} -S similarity.mask=label", tmp_path)
    assert common.load_params(path)["similarity"]["mask"] == "label"


def test_a_sweep_over_presets_validates_each_point(tmp_path):
    paths = apply_like_dvc("dvc exp run -S 'preset=shc-cars,csq-coco' --queue", tmp_path)
    assert [common.load_params(p)["preset"] for p in paths] == ["shc-cars", "csq-coco"]
