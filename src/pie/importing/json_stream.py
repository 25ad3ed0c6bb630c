"""Streaming a ``pie/v1`` document record by record: only one record is in memory at a time.
Each record is checked against its part of the JSON Schema shipped in
``schema/pie-v1.schema.json`` as it arrives."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, BinaryIO

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from pie.domain.errors import InvalidInput

SECTIONS = ("accounts", "contacts", "deals")
FORMAT = "pie/v1"
_MAX_MESSAGE = 200
_READ = 1 << 20  # characters decoded per read
_WS = re.compile(r"[ \t\n\r]*")


class _BadConstant(ValueError):
    """NaN and Infinity: Python's json reads them, JSON has no such values."""


def _bad_constant(name: str) -> Any:
    raise _BadConstant(name)


#: Non-integers as Decimal, integers as int (exact money, no float rounding).
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_bad_constant)


@cache
def schema() -> dict[str, Any]:
    text = resources.files("pie.importing").joinpath("schema/pie-v1.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with every local ``$ref`` replaced by its definition (the pie/v1 schema has
    no recursion). Validation then skips reference lookups, which were most of its cost."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


@cache
def validator(definition: str | None) -> Draft202012Validator:
    """A validator for the whole document (None) or one of its ``$defs`` (``deal``)."""
    root = schema()
    target = root if definition is None else root["$defs"][definition]
    return Draft202012Validator(_inline(target, root["$defs"]))


#: The keywords that constrain only values of one JSON type.
_TYPE_KEYWORDS: dict[str, frozenset[str]] = {
    "string": frozenset({"minLength", "maxLength", "pattern"}),
    "number": frozenset({"minimum", "maximum"}),
    "integer": frozenset({"minimum", "maximum"}),
    "null": frozenset(),
}


def _merge_any_of(node: Any) -> Any:
    """The schema with each ``anyOf`` whose branches are of different single types, and
    constrained only by keywords of their type, written as one ``type`` list with those
    keywords: ``anyOf: [{type: string, pattern: P}, {type: null}]`` is ``type: [string,
    null], pattern: P`` (a keyword for one type ignores values of another). The same set of
    valid values; the compiled check then tries no branch that raises."""
    if isinstance(node, list):
        return [_merge_any_of(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _merge_any_of(v) for k, v in node.items()}
    branches = node.get("anyOf")
    if len(node) != 1 or not isinstance(branches, list):
        return node
    types: list[str] = []
    merged: dict[str, Any] = {}
    for branch in branches:
        kind = branch.get("type") if isinstance(branch, dict) else None
        if kind not in _TYPE_KEYWORDS or kind in types:
            return node
        rest = {k: v for k, v in branch.items() if k != "type"}
        if not rest.keys() <= _TYPE_KEYWORDS[kind] or rest.keys() & merged.keys():
            return node
        types.append(kind)
        merged.update(rest)
    if {"number", "integer"} <= set(types):
        return node
    return {"type": types, **merged}


@cache
def fast_validator(definition: str | None) -> Callable[[Any], Any]:
    """The same check compiled to Python code (fastjsonschema): the fast path for valid
    records. The pie/v1 schema uses only keywords that mean the same in drafts 7 and 2020-12."""
    root = schema()
    target = root if definition is None else root["$defs"][definition]
    inlined = _merge_any_of(_inline(target, root["$defs"]))
    inlined.pop("$schema", None)
    compiled: Callable[[Any], Any] = fastjsonschema.compile(inlined)
    return compiled


def schema_problem(definition: str | None, instance: object) -> tuple[str, str] | None:
    """(field path, problem) of the most relevant schema error, or None when valid."""
    try:
        fast_validator(definition)(instance)
    except fastjsonschema.JsonSchemaException as exc:
        fast_message = str(getattr(exc, "message", exc))
    else:
        return None
    errors = list(validator(definition).iter_errors(instance))
    if not errors:  # the two validators disagree: report what the fast one saw
        return "", f"does not match the pie/v1 schema: {fast_message[:_MAX_MESSAGE]}"
    error: ValidationError = best_match(errors)
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return path.lstrip("."), f"does not match the pie/v1 schema: {message}"


class JsonRecords:
    """Iterates (section, index, record) over a pie/v1 file. ``source`` is known once the
    first record arrives (it must come before the arrays).

    The top level (keys, their order, the arrays' brackets and commas) is walked here; each
    record is decoded whole by the standard library's C JSON scanner (non-integers as
    ``Decimal``), so only one record is in memory at a time and no Python
    code runs per JSON token."""

    def __init__(self, fh: BinaryIO, *, label: str) -> None:
        self.label = label
        self.source: str | None = None
        self.where = "the document"
        head = fh.read(3)
        if head != b"\xef\xbb\xbf":
            fh.seek(0)
        self._fh = fh
        self._buf = ""
        self._pos = 0
        self._pending = b""  # the start of a UTF-8 sequence cut by the read size
        self._eof = False
        self._bad_utf8: str | None = None  # what is wrong after the decodable text

    def _fail(self, problem: str, *, field: str = "") -> InvalidInput:
        return InvalidInput(problem, source=self.label, record=self.where, field=field)

    def _invalid(self, detail: str) -> InvalidInput:
        return self._fail(f"is not valid JSON ({detail[:_MAX_MESSAGE]}); is the file complete?")

    def __iter__(self) -> Iterator[tuple[str, int, Any]]:
        yield from self._document()

    # --- the text, read as needed -------------------------------------------------------------

    def _more(self, at_least: int = _READ) -> bool:
        """Reads more text into the buffer; False at the end of the file."""
        if self._eof:
            return False
        if self._pos > _READ:  # drop what has been consumed
            self._buf, self._pos = self._buf[self._pos :], 0
        data = self._pending + self._fh.read(max(at_least, _READ))
        final = len(data) == len(self._pending)
        try:
            text, used = codecs.utf_8_decode(data, "strict", final)
        except UnicodeDecodeError as exc:
            text, used = data[: exc.start].decode("utf-8"), len(data)
            self._bad_utf8 = f"invalid UTF-8 byte 0x{data[exc.start]:02x}"
            final = True
        self._pending = data[used:]
        self._buf += text
        if final:
            self._eof = True
        return bool(text) or not final

    def _end_error(self) -> InvalidInput:
        if self._bad_utf8:
            return self._invalid(self._bad_utf8)
        return self._invalid("parse error: premature EOF")

    def _peek(self) -> str:
        """The next character that is not JSON whitespace ("" at the end of the file)."""
        while True:
            match = _WS.match(self._buf, self._pos)
            self._pos = match.end() if match else self._pos
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more():
                return ""

    def _expect_more(self) -> str:
        char = self._peek()
        if not char:
            raise self._end_error()
        return char

    def _value(self) -> Any:
        """Decodes the JSON value at the current position."""
        self._expect_more()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._more(len(self._buf) - self._pos):
                    continue
                if self._bad_utf8 or exc.pos >= len(self._buf) - 1:
                    raise self._end_error() from None
                raise self._invalid(exc.msg) from None
            except _BadConstant as exc:
                raise self._invalid(f"{exc} is not JSON") from None
            if end >= len(self._buf) and self._more():
                continue  # a number (or literal) may go on in the next read
            self._pos = end
            return value

    # --- the document -------------------------------------------------------------------------

    def _document(self) -> Iterator[tuple[str, int, Any]]:
        if self._expect_more() != "{":
            self._value()  # invalid JSON reports as such
            raise self._fail("must be a JSON object with format, source and arrays")
        self._pos += 1
        keys: list[str] = []
        first = True
        while True:
            char = self._expect_more()
            if char == "}" and first:
                self._pos += 1
                break
            if char != '"':
                raise self._invalid(f"expected a key, found {char!r}")
            key = self._value()
            if self._expect_more() != ":":
                raise self._invalid(f"expected ':' after {key!r}")
            self._pos += 1
            first = False
            if not keys and key != "format":
                raise self._fail('"format": "pie/v1" must be the first key', field="format")
            if key in keys:
                raise self._fail("appears twice", field=key)
            keys.append(key)
            if key in SECTIONS:
                later = [s for s in SECTIONS[SECTIONS.index(key) + 1 :] if s in keys]
                if later:
                    raise self._fail(
                        f"must come before {later[0]} (order: accounts, contacts, deals)",
                        field=key,
                    )
                yield from self._section(key)
            elif key in ("format", "source"):
                if any(s in keys for s in SECTIONS) and key == "source":
                    raise self._fail("must come before the arrays", field="source")
                self._scalar(key)
            else:
                raise self._fail(
                    "is not a pie/v1 key (format, source, accounts, contacts, deals)", field=key
                )
            char = self._expect_more()
            self._pos += 1
            if char == "}":
                break
            if char != ",":
                raise self._invalid(f"expected ',' or '}}', found {char!r}")
        if "format" not in keys:
            raise self._fail('has no "format": "pie/v1"', field="format")
        self.where = "the document"
        if self._peek():
            raise self._invalid("parse error: trailing garbage")
        if self._bad_utf8:
            raise self._invalid(self._bad_utf8)

    def _scalar(self, key: str) -> None:
        value = self._value()
        if isinstance(value, (dict, list)):
            raise self._fail("must be a string", field=key)
        problem = schema_problem(None, {"format": FORMAT, key: value})
        if problem:
            raise self._fail(problem[1], field=key)
        if key == "source":
            self.source = str(value)

    def _section(self, key: str) -> Iterator[tuple[str, int, Any]]:
        if self._expect_more() != "[":
            self._value()  # invalid JSON reports as such
            raise self._fail("must be an array", field=key)
        self._pos += 1
        if self.source is None:
            self.source = "file"
        if self._expect_more() == "]":
            self._pos += 1
            return
        index = 0
        while True:
            self.where = f"{key}[{index}]"
            yield key, index, self._value()
            index += 1
            char = self._expect_more()
            self._pos += 1
            if char == "]":
                return
            if char != ",":
                raise self._invalid(f"expected ',' or ']', found {char!r}")
