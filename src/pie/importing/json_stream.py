"""Streaming a ``pie/v1`` document record by record with ijson (its C backend when installed):
only one record is in memory at a time. Each record is checked against its part of the JSON
Schema shipped in ``schema/pie-v1.schema.json`` as it arrives."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import Any, BinaryIO

import fastjsonschema
import ijson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from pie.domain.errors import InvalidInput

SECTIONS = ("accounts", "contacts", "deals")
FORMAT = "pie/v1"
_MAX_MESSAGE = 200


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


@cache
def fast_validator(definition: str | None) -> Callable[[Any], Any]:
    """The same check compiled to Python code (fastjsonschema): the fast path for valid
    records. The pie/v1 schema uses only keywords that mean the same in drafts 7 and 2020-12."""
    root = schema()
    target = root if definition is None else root["$defs"][definition]
    inlined = _inline(target, root["$defs"])
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
    first record arrives (it must come before the arrays)."""

    def __init__(self, fh: BinaryIO, *, label: str) -> None:
        self.label = label
        self.source: str | None = None
        self.where = "the document"
        head = fh.read(3)
        if head != b"\xef\xbb\xbf":
            fh.seek(0)
        self._events = ijson.parse(fh)

    def _fail(self, problem: str, *, field: str = "") -> InvalidInput:
        return InvalidInput(problem, source=self.label, record=self.where, field=field)

    def __iter__(self) -> Iterator[tuple[str, int, Any]]:
        try:
            yield from self._document()
        except ijson.JSONError as exc:
            raw = exc.args[0] if exc.args else ""
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            detail = text.strip().splitlines()[0] if text.strip() else "unexpected end"
            raise self._fail(
                f"is not valid JSON ({detail[:_MAX_MESSAGE]}); is the file complete?"
            ) from None
        except UnicodeDecodeError:
            raise self._fail("is not UTF-8 text (save the file as UTF-8)") from None

    def _next(self) -> tuple[str, str, Any]:
        try:
            event: tuple[str, str, Any] = next(self._events)
        except StopIteration:
            raise self._fail("is not valid JSON: the file ends early; is it complete?") from None
        return event

    def _document(self) -> Iterator[tuple[str, int, Any]]:
        _, event, _ = self._next()
        if event != "start_map":
            raise self._fail("must be a JSON object with format, source and arrays")
        keys: list[str] = []
        while True:
            _, event, value = self._next()
            if event == "end_map":
                break
            key = str(value)
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
        if "format" not in keys:
            raise self._fail('has no "format": "pie/v1"', field="format")
        self.where = "the document"
        try:
            extra = next(self._events)
        except StopIteration:
            return
        raise self._fail(f"has more data after the document ends ({extra[1]})")

    def _scalar(self, key: str) -> None:
        _, event, value = self._next()
        if event in ("start_map", "start_array"):
            raise self._fail("must be a string", field=key)
        problem = schema_problem(None, {"format": FORMAT, key: value})
        if problem:
            raise self._fail(problem[1], field=key)
        if key == "source":
            self.source = str(value)

    def _section(self, key: str) -> Iterator[tuple[str, int, Any]]:
        prefix, event, value = self._next()
        if event != "start_array":
            raise self._fail("must be an array", field=key)
        if self.source is None:
            self.source = "file"
        item = f"{key}.item"
        index = 0
        while True:
            prefix, event, value = self._next()
            if event == "end_array" and prefix == key:
                return
            self.where = f"{key}[{index}]"
            builder = ijson.ObjectBuilder()
            builder.event(event, value)
            if event in ("start_map", "start_array"):
                while True:
                    prefix, event, value = self._next()
                    builder.event(event, value)
                    if prefix == item and event in ("end_map", "end_array"):
                        break
            yield key, index, builder.value
            index += 1
