"""What every stage script shares: reading params.yaml and turning bad input into one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from deephash.atomic import atomic_path
from deephash.config import check_bits as check_bits  # re-exported: the stages' one bits check
from deephash.errors import DeephashError

PARAMS = "params.yaml"


def load_params(path: str | Path = PARAMS) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise DeephashError("params file not found", path=path)
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise DeephashError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=path, line=line) from None
    if not isinstance(params, dict):
        raise DeephashError("expected a mapping at the top level", path=path)
    return params


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
    return p


def matrix_parser(description: str) -> argparse.ArgumentParser:
    """The parser of a ``<stage>@<method>-<bits>`` stage: method and bits, then the split's path."""
    p = parser(description)
    p.add_argument("method", help="a registered method (a name of params.yaml: methods)")
    p.add_argument("bits", type=int, help="code length, a multiple of 8")
    p.add_argument("--split", default="data/split", help="split stage output (default: %(default)s)")
    return p


def run(main: Callable[[], None]) -> None:
    """Run a stage; a DeephashError ends it with its one-line message and exit status 2."""
    try:
        main()
    except DeephashError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


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
