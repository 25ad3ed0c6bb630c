"""Writes a ``pie/v1`` document record by record, so memory does not grow with the file."""

from __future__ import annotations

import json
from typing import IO, Any

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def dumps(obj: Any) -> str:
    """Compact, deterministic JSON (keys keep their insertion order)."""
    return _encode(obj)


class PieJsonWriter:
    """``{"format": "pie/v1", "source": ..., "accounts": [...], "contacts": [...], "deals":
    [...]}`` with one record per line. Arrays must be opened in that order."""

    ARRAYS = ("accounts", "contacts", "deals")

    def __init__(self, out: IO[str], *, source: str = "sample") -> None:
        self._out = out
        self._next_array = 0
        self._open = False
        self._first = True
        self.records = 0
        out.write('{"format":"pie/v1","source":' + dumps(source))

    def begin(self, name: str) -> None:
        if self._open:
            self.end()
        if name not in self.ARRAYS[self._next_array :]:
            raise ValueError(f"array {name!r} is out of order or already written")
        self._next_array = self.ARRAYS.index(name) + 1
        self._out.write(',\n"' + name + '":[')
        self._open, self._first = True, True

    def write(self, record: dict[str, Any]) -> None:
        if not self._open:
            raise ValueError("no array is open")
        self._out.write(("\n" if self._first else ",\n") + dumps(record))
        self._first = False
        self.records += 1

    def end(self) -> None:
        if self._open:
            self._out.write("\n]")
            self._open = False

    def close(self) -> None:
        self.end()
        self._out.write("}\n")
