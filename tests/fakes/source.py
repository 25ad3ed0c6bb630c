"""An in-memory, resumable source that pages through its records like an API connector, and
can fail on purpose after a number of records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from pie.domain.errors import InvalidInput
from pie.importing.source import RawRecord


class FakePagingSource:
    """``records`` maps a stream to its records, oldest first. A record's position is its
    index in the stream (zero-padded, so positions sort as text); ``since`` skips up to and
    including the position given. ``fail_after`` raises InvalidInput on reading that many
    records (counted over the run), naming the record it could not read."""

    resumable = True

    def __init__(
        self,
        records: Mapping[str, Sequence[dict[str, Any]]],
        *,
        name: str = "fakecrm",
        page_size: int = 3,
        fail_after: int | None = None,
        id_field: str = "Id",
    ) -> None:
        self.name, self.label = name, f"fake://{name}"
        self.streams = tuple(records)
        self._records, self.page_size, self.fail_after = records, page_size, fail_after
        self.id_field = id_field
        self.since_seen: list[Mapping[str, str]] = []  # what each run was asked to skip
        self.pages_read = 0

    async def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        self.since_seen.append(dict(since))
        read = 0
        for stream, items in self._records.items():
            start = int(since[stream]) + 1 if stream in since else 0
            for page_start in range(start, len(items), self.page_size):
                self.pages_read += 1
                page = items[page_start : page_start + self.page_size]
                for offset, record in enumerate(page):
                    index = page_start + offset
                    where = f"{stream} page {self.pages_read}, record {offset + 1}"
                    if self.fail_after is not None and read == self.fail_after:
                        raise InvalidInput(
                            "the API answered 500 Internal Server Error",
                            source=self.label,
                            record=f"{where} (id {record.get(self.id_field, '')})",
                            field="",
                        )
                    read += 1
                    yield RawRecord(stream, record, where, position=f"{index:08d}")
