"""CSV files as sources: a CRM's report (each row a dict of the vendor's API field names) and a
stage-history file (the rows of one deal together)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from pie.domain.errors import InvalidInput
from pie.domain.stage_mapping import normalize_name
from pie.importing.csvio import CsvFile
from pie.importing.draft import Problem
from pie.importing.source import RawRecord


class CsvFileSource:
    """A CSV file read row by row; the header is read when the source is made."""

    resumable = False

    def __init__(self, path: Path, *, name: str, stream: str) -> None:
        self.path, self.name, self.stream, self.label = path, name, stream, str(path)
        self.streams: tuple[str, ...] = (stream,)
        self._fh: BinaryIO | None = None
        self._read = 0  # bytes read by a finished pass
        with path.open("rb") as fh:
            head = CsvFile(path, fh)
        self.header, self.header_line = head.header, head.header_line
        self._head = head

    @property
    def done(self) -> int:
        """Bytes read so far (for progress)."""
        if self._fh is None or self._fh.closed:
            return self._read
        return self._fh.tell()

    def find(self, *names: str) -> int | None:
        return self._head.find(*names)

    def cells(self, line: int, row: list[str]) -> list[str]:
        """The row checked against the header and the cell limit (raises Problem)."""
        return self._head.cells(line, row)

    def rows(self) -> Iterator[tuple[CsvFile, int, list[str]]]:
        with self.path.open("rb") as fh:
            self._fh = fh
            csv_file = CsvFile(self.path, fh)
            for line, row in csv_file:
                yield csv_file, line, row
        self._fh, self._read = None, self.path.stat().st_size


class CsvReportSource(CsvFileSource):
    """A CRM report: each row becomes ``{API field: cell}`` through the vendor's header table
    (a header not in the table keeps its own name: a custom field). Every column of the header
    is in every record, an empty cell as "": the record carries what the header has."""

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        stream: str,
        headers: Mapping[str, str],
        required: Sequence[str],
        what: str,
    ) -> None:
        super().__init__(path, name=name, stream=stream)
        table = {normalize_name(h): api for h, api in headers.items()}
        self.labels: dict[str, str] = {}  # API field -> the header it was read from
        self._keys: list[tuple[str, int]] = []
        for i, header in enumerate(self.header):
            if not header:
                continue
            api = table.get(normalize_name(header), header)
            if api in self.labels:
                continue  # a second alias of the same field: the first one wins
            self.labels[api] = header
            self._keys.append((api, i))
        missing = [api for api in required if api not in self.labels]
        if missing:
            shown = [next(h for h, a in headers.items() if a == api) for api in missing]
            raise InvalidInput(
                f"missing required column(s) {', '.join(repr(m) for m in shown)} for a {what}",
                source=self.label,
                record=f"line {self.header_line}",
                field=shown[0],
            )

    def label_of(self, api_field: str) -> str:
        return self.labels.get(api_field, api_field)

    async def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        keys, stream = self._keys, self.stream
        for csv_file, line, row in self.rows():
            problem: tuple[str, str] | None = None
            try:
                cells = csv_file.cells(line, row)
            except Problem as exc:
                problem, cells = (exc.field, exc.problem), row + [""] * len(self.header)
            yield RawRecord(
                stream, {api: cells[i] for api, i in keys}, f"line {line}", problem=problem
            )


class StageHistorySource(CsvFileSource):
    """A stage-history CSV: one record per deal, its rows (line, cells) in file order. The
    rows of a deal must be together; the mapper says so when they are not."""

    def __init__(self, path: Path, *, name: str, deal_columns: Sequence[str]) -> None:
        super().__init__(path, name=name, stream="stage_history")
        self.deal_column = self.find(*deal_columns)

    async def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        current: str | None = None
        rows: list[tuple[int, list[str]]] = []
        i = self.deal_column
        if i is None:
            raise InvalidInput("has no deal id column", source=self.label, record="line 1")
        for _, line, row in self.rows():
            deal = row[i].strip() if i < len(row) else ""
            if deal != current:
                if current is not None:
                    yield RawRecord(self.stream, (current, rows), f"line {rows[0][0]}")
                current, rows = deal, []
            rows.append((line, row))
        if current is not None:
            yield RawRecord(self.stream, (current, rows), f"line {rows[0][0]}")
