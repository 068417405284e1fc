"""dvc.yaml's deps match the code: each stage depends on every module its script imports, directly
or indirectly (stage-local modules such as stages/common.py and the deephash modules), and on no
code it does not import. The import closure is derived statically from the AST, lazy imports inside
functions included; a module that discovers its package's modules at run time (importlib /
pkgutil) imports the whole package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC, STAGES = ROOT / "src", ROOT / "stages"
DYNAMIC = ("import_module", "iter_modules", "walk_packages")


def module_file(name: str) -> Path | None:
    """The file of an importable module: src/deephash/... or a stage-local module in stages/."""
    parts = name.split(".")
    roots = [SRC] if parts[0] == "deephash" else [STAGES] if len(parts) == 1 else []
    for root in roots:
        base = root.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def module_name(path: Path) -> str:
    if path.is_relative_to(STAGES):
        return path.stem
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` names in an import, at any depth of its AST, with their parent packages."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if module_file(f"{base}.{alias.name}"))
    with_parents = set()
    for name in names:
        parts = name.split(".")
        with_parents.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    if any(
        isinstance(n, ast.Attribute | ast.Name) and getattr(n, "attr", getattr(n, "id", "")) in DYNAMIC
        for n in ast.walk(tree)
    ):
        with_parents.update(module_name(p) for p in path.parent.glob("*.py"))  # discovery: the whole package
    return with_parents


def closure(script: Path) -> set[Path]:
    """The script and every project file it imports, transitively."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(f for f in map(module_file, imported(path)) if f is not None)
    return {p.relative_to(ROOT) for p in seen}


def covers(dep: str, path: Path) -> bool:
    """A dep covers a file when it is the file or a directory above it."""
    return path == Path(dep) or Path(dep) in path.parents


def code_stages() -> dict[str, tuple[Path, list[str]]]:
    """Stage name -> (its script, its code deps: the deps under src/ or stages/)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        match = re.search(r"python (stages/\S+\.py)", stage["cmd"])
        assert match, f"{name}: no stage script in its cmd"
        deps = [d for d in stage.get("deps", []) if d.startswith(("src/", "stages/"))]
        out[name] = (ROOT / match.group(1), deps)
    return out


def test_closure_follows_lazy_imports_and_local_modules(tmp_path):
    files = closure(STAGES / "train.py")
    assert {Path("stages/train.py"), Path("stages/common.py")} <= files  # a stage-local module
    assert Path("src/deephash/checkpoint.py") in files and Path("src/deephash/data/arrays.py") in files
    assert Path("src/deephash/data/cifar.py") in files  # imported inside data's _import_adapters()
    assert Path("src/deephash/__init__.py") in files  # a package's __init__ runs with any of its modules
    assert not any(p.is_relative_to("src/deephash/search.py") for p in files)


@pytest.mark.parametrize("stage", sorted(code_stages()))
def test_stage_deps_cover_its_import_closure(stage):
    script, deps = code_stages()[stage]
    missing = sorted(str(p) for p in closure(script) if not any(covers(d, p) for d in deps))
    assert not missing, f"{stage}: add to its deps in dvc.yaml: {missing}"


@pytest.mark.parametrize("stage", sorted(code_stages()))
def test_stage_depends_on_no_code_it_does_not_run(stage):
    script, deps = code_stages()[stage]
    files = closure(script)
    unused = [d for d in deps if not any(covers(d, p) for p in files)]
    assert not unused, f"{stage}: remove from its deps in dvc.yaml (nothing it imports is there): {unused}"
