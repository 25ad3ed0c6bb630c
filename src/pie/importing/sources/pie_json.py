"""A PIE JSON (``pie/v1``) file as a source: streams accounts, contacts and deals, in that
order, each record decoded whole as it arrives (see ``pie.importing.json_stream``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import BinaryIO

from pie.importing.json_stream import JsonRecords
from pie.importing.source import RawRecord


class PieJsonSource:
    resumable = False
    streams: tuple[str, ...] = ("accounts", "contacts", "deals")

    def __init__(self, path: Path, *, name: str | None = None) -> None:
        self.path, self.label = path, str(path)
        self._fh: BinaryIO | None = None
        self._read = 0  # bytes read by a finished pass
        self.name = name or self._declared_source()

    def _declared_source(self) -> str:
        """The document's ``source`` (it comes before the arrays), else ``file``."""
        with self.path.open("rb") as fh:
            records = JsonRecords(fh, label=self.label)
            for _ in records:
                break
            return records.source or "file"

    @property
    def done(self) -> int:
        """Bytes read so far (for progress)."""
        if self._fh is None or self._fh.closed:
            return self._read
        return self._fh.tell()

    async def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        with self.path.open("rb") as fh:
            self._fh = fh
            for section, index, record in JsonRecords(fh, label=self.label):
                yield RawRecord(section, record, f"{section}[{index}]")
        self._fh, self._read = None, self.path.stat().st_size
