"""Reading a CSV file row by row: strict UTF-8 (a byte order mark is accepted), exact line
numbers, and limits on cell and line size that give a clear error instead of Python's."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pie.domain.errors import InvalidInput
from pie.domain.stage_mapping import normalize_name
from pie.importing.draft import Problem

#: The largest cell accepted, in characters.
MAX_CELL_CHARS = 1_048_576
#: The largest physical line accepted, in bytes (a guard against a file with no line breaks).
MAX_LINE_BYTES = 64 * 1_048_576
_BOM = b"\xef\xbb\xbf"
#: Separators other programs write instead of commas (Excel in many locales writes ';').
OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "'|' characters"}


def _allow_large_fields() -> None:
    # csv's own limit (128 Ki characters by default) would fail with an obscure message; PIE
    # checks cells against MAX_CELL_CHARS itself, so csv only needs to allow a whole line.
    if csv.field_size_limit() < MAX_LINE_BYTES:
        csv.field_size_limit(MAX_LINE_BYTES)


class CsvFile:
    """``header`` (the names as written), ``columns`` (normalized name -> index), and
    iteration over (line number, cells) for each data row."""

    def __init__(self, path: Path, fh: BinaryIO, *, label: str | None = None) -> None:
        _allow_large_fields()
        self.path, self.label = path, label or str(path)
        self._fh = fh
        self._line = 0
        self._reader = csv.reader(self._lines(), dialect="excel", strict=False)
        first = self._next_row()
        if first is None:
            raise InvalidInput("is empty: expected a header row", source=self.label)
        self.header_line, self.header = first
        if len(self.header) == 1 and (hint := delimiter_hint(self.header[0])):
            raise InvalidInput(hint, source=self.label, record=f"line {self.header_line}")
        self.header = [" ".join(h.split()) for h in self.header]
        self.columns: dict[str, int] = {}
        for i, name in enumerate(self.header):
            key = normalize_name(name)
            if not key:
                continue
            if key in self.columns:
                raise InvalidInput(
                    "column appears twice in the header",
                    source=self.label,
                    record=f"line {self.header_line}",
                    field=name,
                )
            self.columns[key] = i

    def _lines(self) -> Iterator[str]:
        while True:
            raw = self._fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            self._line += 1
            if len(raw) > MAX_LINE_BYTES:
                raise InvalidInput(
                    f"line is longer than {MAX_LINE_BYTES // 1_048_576} MiB",
                    source=self.label,
                    record=f"line {self._line}",
                )
            if self._line == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start]
                column = len(raw[: exc.start].decode("utf-8", errors="replace")) + 1
                raise InvalidInput(
                    f"is not UTF-8 text: byte 0x{bad:02x} at character {column} "
                    "(save the file as UTF-8)",
                    source=self.label,
                    record=f"line {self._line}",
                ) from None

    def _next_row(self) -> tuple[int, list[str]] | None:
        while True:
            start = self._line + 1
            try:
                row = next(self._reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                raise InvalidInput(
                    f"is not valid CSV: {exc}", source=self.label, record=f"line {start}"
                ) from None
            if row and any(cell.strip() for cell in row):
                return start, row

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        while (item := self._next_row()) is not None:
            yield item

    def cells(self, line: int, row: list[str]) -> list[str]:
        """The row checked against the header and the cell limit (raises Problem)."""
        if len(row) > len(self.header):
            extra = row[len(self.header) :]
            if any(cell.strip() for cell in extra):
                raise Problem(
                    "", f"has {len(row)} cells but the header has {len(self.header)} columns"
                )
            row = row[: len(self.header)]
        for i, cell in enumerate(row):
            if len(cell) > MAX_CELL_CHARS:
                raise Problem(
                    self.header[i],
                    f"cell is {len(cell):,} characters long; the limit is {MAX_CELL_CHARS:,}",
                )
        return row + [""] * (len(self.header) - len(row))

    def find(self, *names: str) -> int | None:
        """Index of the first of ``names`` present in the header (case-insensitive)."""
        for name in names:
            if (i := self.columns.get(normalize_name(name))) is not None:
                return i
        return None


def delimiter_hint(header: str) -> str:
    """What to say when a header line has no comma but another separator: "" otherwise."""
    if "," in header:
        return ""
    for delimiter, names in OTHER_DELIMITERS.items():
        if delimiter in header:
            return (
                f"the columns are separated by {names} ({delimiter!r}), not commas: PIE reads "
                "comma-separated CSV; save the file as CSV with ',' as the delimiter (in Excel: "
                "CSV UTF-8 (Comma delimited))"
            )
    return ""


def sniff_header(path: Path, limit: int = 65536) -> list[str]:
    """The header row of a CSV file, normalized (for format detection)."""
    row = next(csv.reader([first_line(path, limit)]), [])
    return [normalize_name(c) for c in row]


def first_line(path: Path, limit: int = 65536) -> str:
    with path.open("rb") as fh:
        head = fh.readline(limit)
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    return head.decode("utf-8", errors="replace")
