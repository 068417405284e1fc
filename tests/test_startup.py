"""Start-up: every stage script and ``python -m deephash`` answer ``--help`` without importing the heavy
libraries (torch alone costs ~2 s a process); a stage imports them once its arguments parse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_deps import code_stages

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "numba", "matplotlib", "h5py", "scipy", "dvclive")

#: runs each script given as ``--help`` in this one process, then names the heavy modules loaded
PROBE = """
import runpy, sys
sys.path.insert(0, "stages")
for script in sys.argv[1:]:
    sys.argv = [script, "--help"]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        pass
from deephash.cli import build_parser
try:
    build_parser().parse_args(["--help"])
except SystemExit:
    pass
print("loaded:", *sorted(m for m in HEAVY if m in sys.modules))
"""


def test_help_imports_no_heavy_library():
    scripts = sorted({str(script.relative_to(ROOT)) for script, _ in code_stages().values()})
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    out = subprocess.run([sys.executable, "-c", code, *scripts], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    last = out.stdout.splitlines()[-1]
    assert last == "loaded:", f"--help of {', '.join(scripts)} or python -m deephash: {last}"
