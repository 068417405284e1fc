"""The one exception type users see: its message is a complete one-line diagnosis."""


class DeephashError(Exception):
    """Bad input or configuration; the CLI prints the message alone, without a traceback."""

    def __init__(self, message: str, *, path: object = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
