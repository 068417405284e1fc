"""Write-to-temporary-then-rename, so a failed stage never leaves a half-written artefact.

A process killed with SIGKILL cannot clean up after itself: its temporary siblings
(``.<name>.tmp-*``, ignored by git) are removed by the next write of the same path.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deephash.errors import DeephashError


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it onto ``path`` only if the block succeeds.

    With ``directory=True`` the temporary path is an empty directory that replaces ``path`` whole.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.tmp-"
    remove_stale(target.parent, prefix)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        else:
            tmp.chmod(0o644)
            os.replace(tmp, target)
    except BaseException as exc:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        if out_of_space(exc):
            raise DeephashError(
                "no space left on the device (nothing was replaced: an earlier file stays as it was)", path=target
            ) from exc
        raise


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` or an error it arose from is a full disk: h5py reports one as a RuntimeError
    when the file it cannot flush is closed, with the errno only in its message."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "errno", None) == errno.ENOSPC or f"errno = {errno.ENOSPC}," in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def remove_stale(parent: Path, prefix: str) -> None:
    """Remove temporaries a killed earlier run left beside the target (stages never run twice at once:
    DVC's repository lock refuses a second ``dvc repro`` in the same workspace)."""
    for stale in parent.glob(f"{prefix}*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


#: significant digits of every float written to a JSON file: the last bits of a float sum differ
#: between CPUs (vectorised reductions), and metrics files must not differ with them
JSON_DIGITS = 10


def rounded(data: object, digits: int = JSON_DIGITS) -> object:
    """``data`` with every float rounded to ``digits`` significant digits (ints, strings untouched)."""
    if isinstance(data, float):
        return float(f"{data:.{digits}g}") if data == data and abs(data) != float("inf") else data
    if isinstance(data, dict):
        return {key: rounded(value, digits) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [rounded(value, digits) for value in data]
    return data


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: object) -> None:
    import json

    write_text(path, json.dumps(rounded(data), indent=2, sort_keys=False) + "\n")
