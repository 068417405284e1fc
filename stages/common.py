"""What every stage script shares: reading params.yaml and turning bad input into one line."""

from __future__ import annotations

import argparse
import re
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deephash.atomic import atomic_path
from deephash.config import check_bits as check_bits  # re-exported: the stages' one bits check
from deephash.config import check_type, suggest, unknown
from deephash.errors import DeephashError, debugging, exit_on_error

PARAMS = "params.yaml"
#: Hydra's config directory (``dvc exp run`` composes params.yaml from it); its ``preset/`` group
#: holds the papers' recipes
CONF = Path(__file__).resolve().parent.parent / "conf"
#: top-level sections besides one per registered method
SECTIONS: tuple[str, ...] = (
    "preset",
    "dataset",
    "split",
    "cache",
    "methods",
    "bits",
    "seeds",
    "similarity",
    "train",
    "report",
    "export",
    "evaluate",
)


def load_params(path: str | Path = PARAMS, validate: bool = True, training: bool = True) -> dict[str, Any]:
    """params.yaml read as YAML 1.2, the way DVC writes it (``7e-05`` is a float, ``yes`` a string),
    and, unless ``validate`` is false, checked whole (see ``validate_params``) before a stage runs.
    ``training=False`` skips what needs torch imported (methods, training configs): for the stages
    that never import it (cache, evaluate, report), which would otherwise pay ~2 s CPU each."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    path = Path(path)
    if not path.exists():
        raise DeephashError("params file not found", path=path)
    try:
        tree = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise DeephashError(f"not valid YAML: {exc.problem}", path=path, line=line) from None
    except (YAMLError, UnicodeDecodeError) as exc:
        raise DeephashError(f"not valid YAML: {str(exc).splitlines()[0]}", path=path) from None
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise DeephashError("expected a mapping at the top level", path=path)
    lines: dict[str, int] = {}
    params = _plain(tree, "", lines)
    if validate:
        try:
            validate_params(params, training)
        except DeephashError as exc:
            match = re.match(r"([\w.@-]+):", exc.message)
            key = match.group(1) if match else ""
            while key and key not in lines:
                key = key.rpartition(".")[0]
            raise exc.located(path, lines.get(key)) from None
    return params


def _plain(node: Any, key: str, lines: dict[str, int]) -> Any:
    """ruamel's round-trip nodes as plain dicts, lists and scalars; ``lines`` gets each key's line."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            dotted = f"{key}.{k}" if key else str(k)
            position = node.lc.data.get(k) if hasattr(node, "lc") else None  # None: a merged (<<) key
            if position is not None:
                lines[dotted] = position[0] + 1
            out[str(k)] = _plain(v, dotted, lines)
        return out
    if isinstance(node, list):
        return [_plain(v, key, lines) for v in node]
    for plain in (bool, int, float, str):
        if isinstance(node, plain):
            return plain(node)
    return node


#: the types of the keys of the sections no dataclass describes (other keys pass: protocols and
#: adapters take their own)
TYPES: dict[str, dict[str, Any]] = {
    "dataset": {"name": str, "root": str | None},
    "split": {"protocol": str, "seed": int, "query": int | float | str, "train": int | float | str},
    "cache": {"workers": int, "on_bad_image": str},  # cache.size: parse_size (an int or [height, width])
    "report": {"metrics": list[str], "curve_metric": str},
    "export": {"batch_size": int},
    "evaluate": {"topk": list[int | str], "pn": list[int], "gallery": dict},
    "evaluate.gallery": {"queries": int, "topk": int},
}
TYPES["split"] |= {"database": int | float | str, "train_in_database": bool}
#: keys that take one of a few names
CHOICES: dict[str, tuple[str, ...]] = {"cache.on_bad_image": ("fail", "skip")}


def validate_params(params: dict[str, Any], training: bool = True) -> None:
    """Every section of a params dict checked at once, with full key paths: unknown keys and names
    (with the closest match), wrong types, options YAML turned into booleans, report metrics that
    evaluate does not produce. Sections absent here are reported by the stage that reads them.
    ``training=False`` leaves out the top-level keys, methods and training sections (they need torch)."""
    if training:
        from deephash.methods import list_methods

        methods = _check_sections(params, list_methods())
        _check_training(params, methods)
    elif "preset" in params:
        check_preset(params["preset"])
    for dotted, types in TYPES.items():
        node = check_type(section(params, dotted, {}), dict, dotted)
        for key in node.keys() & types.keys():
            check_type(node[key], types[key], f"{dotted}.{key}")
    if "size" in params.get("cache", {}):
        from deephash.data.cache import parse_size

        parse_size(params["cache"]["size"])
    for dotted, choices in CHOICES.items():
        value = section(params, dotted, {})
        if value != {} and value not in choices:
            raise unknown("option", value, choices, dotted)
    _check_dataset(params.get("dataset", {}), params.get("split", {}))
    _check_report(params.get("evaluate", {}), params.get("report", {}))


def _check_sections(params: dict[str, Any], registered: list[str]) -> list[str]:
    """Top-level keys, their types, the preset, methods and bits, and each method's sections."""
    from deephash.methods import method_class

    for key, value in params.items():
        if key not in SECTIONS and key not in registered:
            raise DeephashError(f"{key}: unknown top-level key ({suggest(key, [*SECTIONS, *registered])})")
        expected = {"preset": str, "methods": list, "bits": list, "seeds": list}.get(key, dict)
        check_type(value, expected | None if key in registered else expected, key)
    if "preset" in params:
        check_preset(params["preset"])
    methods = params.get("methods", [])  # absent: the stage that needs it says so
    if "methods" in params and not methods:
        raise DeephashError(f"methods: expected a non-empty list of method names, got {methods!r}")
    for name in methods:
        if name not in registered:
            raise unknown("method", name, registered, "methods")
    for bits in params.get("bits", []):
        check_bits(bits)
    seeds = params.get("seeds", [0])
    if not seeds or any(not isinstance(seed, int) or isinstance(seed, bool) or seed < 0 for seed in seeds):
        raise DeephashError(f"seeds: expected a non-empty list of non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise DeephashError(f"seeds: {seeds!r} repeats a seed (each seed names its own stages)")
    for name in registered:
        known = [k for k in ("train", method_class(name).prestage) if k]
        for key, value in (params.get(name) or {}).items():
            if key not in known:
                raise DeephashError(f"{name}.{key}: unknown key ({suggest(key, known)})")
            check_type(value, dict | None, f"{name}.{key}")
    return methods


def _check_dataset(dataset: dict[str, Any], split: dict[str, Any]) -> None:
    """The adapter's name and every adapter section's options, and the split protocol."""
    from deephash.data import dataset_class, list_datasets
    from deephash.data.base import adapter_options
    from deephash.data.split import FIXED, PROTOCOLS

    adapters = list_datasets()
    if "name" in dataset and dataset["name"] not in adapters:
        raise unknown("dataset", dataset["name"], adapters, "dataset.name")
    for name, given in dataset.items():
        if name in ("name", "root"):
            continue
        if name not in adapters:
            raise DeephashError(f"dataset.{name}: unknown key ({suggest(name, ['name', 'root', *adapters])})")
        options = adapter_options(dataset_class(name))
        check_type(given, dict | None, f"dataset.{name}")
        for key, value in (given or {}).items():
            if key not in options:
                raise DeephashError(f"dataset.{name}.{key}: unknown option ({suggest(key, options)})")
            if options[key] is not None:
                check_type(value, type(options[key]), f"dataset.{name}.{key}")
    protocol = split.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS and protocol not in FIXED:
        raise unknown("protocol", protocol, [*PROTOCOLS, *FIXED], "split.protocol")


def _check_training(params: dict[str, Any], methods: list[str]) -> None:
    """``similarity`` and ``train`` as training configs, and each method's ``<method>.train``: its
    overrides of shared keys typed like them, its own keys checked by the method itself."""
    from deephash.config import merge_train
    from deephash.methods import method_class
    from deephash.models import list_backbones
    from deephash.similarity import MASKS, ORDERS
    from deephash.train import TrainConfig

    def train_config(section: dict[str, Any], key: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
        section = {k: v for k, v in section.items() if k not in extra}
        backbone = section.pop("backbone", None)
        name = backbone.get("name") if isinstance(backbone, dict) else backbone
        if backbone is not None and name not in list_backbones():
            raise unknown("backbone", name, list_backbones(), f"{key}.backbone.name")
        TrainConfig.from_params(section, key)
        return section

    if "similarity" in params:
        similarity = params["similarity"]
        for key, known in (("mask", MASKS), ("order", ORDERS)):
            value = similarity.get(key)
            if isinstance(value, bool):
                hint = "YAML reads true/false as booleans; the released code's choice is 'label'"
                raise DeephashError(f"similarity.{key}: {value!r} is not an option ({hint})")
            if value is not None and value not in known:
                raise unknown("option", value, known, f"similarity.{key}")
        train_config(similarity, "similarity", ("mask", "order"))
    if "train" not in params:
        return
    shared = train_config(params["train"], "train")
    hints = typing.get_type_hints(TrainConfig)
    bits = max(params.get("bits") or [64])
    for name in methods:
        own = (params.get(name) or {}).get("train") or {}
        for key in own.keys() & hints.keys():
            check_type(own[key], hints[key], f"{name}.train.{key}")
        merged = merge_train(shared, own, hints)
        TrainConfig.from_params(merged.train, f"{name}.train")
        method_class(name)(bits, 2, merged.method)  # its own keys, typed against its defaults


def _check_report(evaluate: dict[str, Any], report: dict[str, Any]) -> None:
    """``evaluate.topk`` and a report that asks only for metrics evaluate measures."""
    from deephash.config import parse_topk

    if "topk" not in evaluate:
        return
    measured = {"map": parse_topk(evaluate["topk"]), "p": evaluate.get("pn", [])}
    measured["map_tieaware"] = measured["map"]
    for metric in [*report.get("metrics", []), *([report["curve_metric"]] if "curve_metric" in report else [])]:
        kind, _, k = str(metric).partition("@")
        if kind in measured and k not in [str(v) for v in measured[kind]]:
            given = "evaluate.pn" if kind == "p" else "evaluate.topk"
            raise DeephashError(f"report.metrics: {metric} is not measured ({given} has {measured[kind]})")


def presets() -> list[str]:
    """The recipes of ``conf/preset/``, selected with ``dvc exp run -S preset=<name>``."""
    return sorted(p.stem for p in (CONF / "preset").glob("*.yaml"))


def check_preset(name: object) -> None:
    """A preset name that ``conf/preset/`` holds (checked when a stage runs params composed by hand)."""
    available = presets()
    if available and name not in available:
        hint = suggest(name, available)
        raise DeephashError(f"preset: no preset {name!r} ({hint}; available: {', '.join(available)})")


def section(params: dict[str, Any], dotted: str, default: Any = None) -> Any:
    """``params['a']['b']`` for ``'a.b'``; a missing key is an error unless a default is given."""
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not None:
                return default
            raise DeephashError(f"{dotted}: missing from {PARAMS}")
        node = node[part]
    return node


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default=PARAMS, help="params file (default: %(default)s)")
    p.add_argument("--debug", action="store_true", help="tracebacks for bad input too (or DEEPHASH_DEBUG=1)")
    return p


def matrix_parser(description: str) -> argparse.ArgumentParser:
    """The parser of a ``<stage>@<method>-<bits>`` stage: method and bits, then the split's path."""
    p = parser(description)
    p.add_argument("method", help="a registered method (a name of params.yaml: methods)")
    p.add_argument("bits", type=int, help="code length, a multiple of 8")
    p.add_argument("--split", default="data/split", help="split stage output (default: %(default)s)")
    return p


def run(main: Callable[[], None]) -> None:
    """Run a stage; a DeephashError ends it with ``deephash: <its one line>`` and exit status 2 (with
    its traceback under ``--debug`` or ``DEEPHASH_DEBUG=1``)."""
    raise SystemExit(exit_on_error(main, debug=debugging()))


@contextmanager
def live_callback(directory: str, prefix: str) -> Iterator[Callable[[int, dict[str, float]], None]]:
    """A DVCLive logger as the plain per-epoch callback the library's training loop takes.

    DVCLive never writes dvc.yaml here (``dvcyaml=False``): the stage declares its outputs. It logs
    into a temporary directory that replaces ``directory`` only when training succeeds.
    """
    from dvclive import Live
    from scmrepo.exceptions import SCMError

    with atomic_path(directory, directory=True) as tmp:
        try:
            live = Live(str(tmp), dvcyaml=False, save_dvc_exp=False, report=None)
        except SCMError as exc:
            raise DeephashError(f"DVCLive needs a Git repository with at least one commit ({exc})") from None
        with live:

            def log(epoch: int, stats: dict[str, float]) -> None:
                for name, value in stats.items():
                    live.log_metric(f"{prefix}/{name}", value)
                live.next_step()

            yield log
