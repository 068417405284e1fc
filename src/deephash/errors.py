"""The one exception type users see: its message is a complete one-line diagnosis."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


class DeephashError(Exception):
    """Bad input or configuration; the CLI and stages print ``deephash: <message>`` and exit 2.

    ``path`` and ``line`` say where the bad input is; the message then reads ``<path>:<line>: ...``.
    """

    def __init__(self, message: str, *, path: object = None, line: int | None = None) -> None:
        self.message, self.path, self.line = message, path, line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)

    def located(self, path: object, line: int | None = None) -> DeephashError:
        """This error placed in ``path`` (at ``line``), unless it already names a file."""
        if self.path is not None:
            return self
        return DeephashError(self.message, path=path, line=line)


def debugging(argv: list[str] | None = None) -> bool:
    """``--debug`` on the command line or ``DEEPHASH_DEBUG=1``: bad input keeps its traceback."""
    argv = sys.argv if argv is None else argv
    return "--debug" in argv or os.environ.get("DEEPHASH_DEBUG", "") not in ("", "0")


def exit_on_error(main: Callable[[], int | None], debug: bool = False) -> int:
    """Run ``main``; a DeephashError becomes its one line on stderr and exit status 2 (a traceback
    too when debugging). Other exceptions keep their traceback: they are bugs, not bad input."""
    try:
        return main() or 0
    except DeephashError as exc:
        if debug:
            raise
        print(f"deephash: {exc}", file=sys.stderr)
        return 2
