"""The plain-text files datasets ship (id files, label lists), read so that every error names its line."""

from __future__ import annotations

from pathlib import Path

from deephash.errors import DeephashError

Row = tuple[int, list[str]]  # (1-based line number, whitespace-separated fields)


def read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines, stripped, with their 1-based numbers; a line that is not UTF-8 is an error."""
    if not path.is_file():
        raise DeephashError("file not found", path=path)
    lines = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DeephashError(f"not UTF-8 text (byte {exc.start + 1} of the line)", path=path, line=number) from None
        text = text.removeprefix("\ufeff").strip() if number == 1 else text.strip()
        if text:
            lines.append((number, text))
    return lines


def read_rows(path: Path, fields: int) -> list[Row]:
    """Lines of exactly ``fields`` whitespace-separated fields; the last field keeps any inner spaces."""
    rows = []
    for number, text in read_lines(path):
        parts = text.split(maxsplit=fields - 1)
        if len(parts) != fields:
            raise DeephashError(f"expected {fields} fields, got {len(parts)}", path=path, line=number)
        rows.append((number, parts))
    return rows


def read_keyed(path: Path, fields: int) -> dict[str, Row]:
    """``read_rows`` keyed on the first field; a key seen twice is an error naming both lines."""
    table: dict[str, Row] = {}
    for number, parts in read_rows(path, fields):
        first = table.get(parts[0])
        if first is not None:
            raise DeephashError(f"duplicate id {parts[0]!r} (first on line {first[0]})", path=path, line=number)
        table[parts[0]] = (number, parts)
    return table


def join_on_id(primary: Path, table: dict[str, Row], other: Path, other_table: dict[str, Row]) -> None:
    """Require ``other`` to list exactly the ids of ``primary``; the first mismatch is named."""
    for ident, (number, _) in table.items():
        if ident not in other_table:
            raise DeephashError(f"image id {ident!r} (line {number} of {primary.name}) is missing here", path=other)
    for ident, (number, _) in other_table.items():
        if ident not in table:
            raise DeephashError(f"image id {ident!r} is not in {primary.name}", path=other, line=number)


def parse_int(text: str, what: str, path: Path, line: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise DeephashError(f"{what} {text!r} is not an integer", path=path, line=line) from None


def find_line(path: Path, needle: str) -> int | None:
    """The number of the first line containing ``needle``, to point at what a library parser refused."""
    for number, text in read_lines(path):
        if needle in text:
            return number
    return None
