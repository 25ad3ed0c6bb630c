"""The subset of SOQL the connector sends (and the emulator answers):

    SELECT Id, Name, Owner.Name FROM Opportunity
    WHERE SystemModstamp >= 2025-05-01T00:00:00Z AND IsDeleted = true AND Id IN ('006…')
    ORDER BY SystemModstamp ASC, Id ASC LIMIT 2000

Conditions are joined by AND; operators ``= != < <= > >= IN``; literals are datetimes (unquoted,
``Z`` or ``+hh:mm``), dates, quoted strings, numbers, ``true``, ``false`` and ``null``. A
relationship field (``Owner.Name``) is one level deep. Datetimes are compared in Salesforce's
own text form (``2025-05-01T00:00:00.000+0000``), which sorts like the times it names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<op><=|>=|!=|<>|=|<|>)|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z0-9_.:+\-]+))"
)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_KEYWORDS = {"select", "from", "where", "and", "order", "by", "limit", "asc", "desc", "in"}


class SoqlError(ValueError):
    """A query outside the subset, or malformed: the emulator answers 400 MALFORMED_QUERY."""


def sf_datetime(t: datetime) -> str:
    """A time in Salesforce's form: ``2025-05-02T14:00:00.000+0000`` (UTC)."""
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def soql_datetime(t: datetime) -> str:
    """A datetime literal for a SOQL query: ``2025-05-02T14:00:00.000Z``."""
    return sf_datetime(t)[:-5] + "Z"


def parse_sf_datetime(text: str) -> datetime:
    """``2025-05-02T14:00:00.000+0000`` (or with ``Z``, or ``+hh:mm``) -> aware datetime."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    return datetime.fromisoformat(value).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str  # = != < <= > >= IN
    value: Any  # a literal, or a tuple of literals for IN


@dataclass(frozen=True, slots=True)
class Query:
    fields: tuple[str, ...]
    sobject: str
    where: tuple[Condition, ...] = ()
    order_by: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    limit: int | None = None

    def predicate(self, get: Callable[[dict[str, Any], str], Any]) -> Callable[[Any], bool]:
        """A test of one record; ``get(record, field)`` reads a field (maybe a relationship)."""
        tests = [_test(c, get) for c in self.where]
        return lambda rec: all(t(rec) for t in tests)


def _test(c: Condition, get: Callable[[dict[str, Any], str], Any]) -> Callable[[Any], bool]:
    field, value = c.field, c.value
    if c.op == "IN":
        allowed = frozenset(value)
        return lambda rec: get(rec, field) in allowed
    if c.op == "=":
        return lambda rec: get(rec, field) == value
    if c.op == "!=":
        return lambda rec: get(rec, field) != value
    compare: Callable[[Any, Any], bool] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[c.op]

    def ordered(rec: Any) -> bool:
        got = get(rec, field)
        return got is not None and value is not None and compare(got, value)

    return ordered


def _literal(token: str) -> Any:
    low = token.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low == "null":
        return None
    if token.startswith("'"):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    if _DATETIME.fullmatch(token):
        return sf_datetime(parse_sf_datetime(token))
    if _DATE.fullmatch(token):
        return token
    if _NUMBER.fullmatch(token):
        return float(token) if "." in token else int(token)
    raise SoqlError(f"unexpected token: {token!r}")


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[str] = []
        pos, text = 0, text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise SoqlError(f"unexpected token at position {pos}: {text[pos : pos + 20]!r}")
            self.items.append(m.group(m.lastgroup or "word"))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0

    def peek(self) -> str | None:
        return self.items[self.i] if self.i < len(self.items) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise SoqlError("unexpected end of query")
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.lower() == word:
            self.i += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word):
            raise SoqlError(f"expected {word.upper()}, found {self.peek()!r}")

    def name(self) -> str:
        token = self.take()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", token) or (
            token.lower() in _KEYWORDS
        ):
            raise SoqlError(f"expected a field name, found {token!r}")
        return token


def parse(text: str) -> Query:
    """Parse ``text``; raises SoqlError when it is not in the subset."""
    t = _Tokens(text)
    t.expect("select")
    fields = [t.name()]
    while t.peek() == ",":
        t.take()
        fields.append(t.name())
    t.expect("from")
    sobject = t.name()
    where: list[Condition] = []
    if t.keyword("where"):
        where.append(_condition(t))
        while t.keyword("and"):
            where.append(_condition(t))
    order: list[tuple[str, bool]] = []
    if t.keyword("order"):
        t.expect("by")
        while True:
            name = t.name()
            desc = t.keyword("desc")
            if not desc:
                t.keyword("asc")
            order.append((name, desc))
            if t.peek() != ",":
                break
            t.take()
    limit = None
    if t.keyword("limit"):
        token = t.take()
        if not token.isdigit():
            raise SoqlError(f"LIMIT needs a number, found {token!r}")
        limit = int(token)
    if t.peek() is not None:
        raise SoqlError(f"unexpected token: {t.peek()!r}")
    return Query(tuple(fields), sobject, tuple(where), tuple(order), limit)


def _condition(t: _Tokens) -> Condition:
    field = t.name()
    if t.keyword("in"):
        if t.take() != "(":
            raise SoqlError("IN needs a list in parentheses")
        values = [_literal(t.take())]
        while t.peek() == ",":
            t.take()
            values.append(_literal(t.take()))
        if t.take() != ")":
            raise SoqlError("IN list not closed")
        return Condition(field, "IN", tuple(values))
    op = t.take()
    if op not in ("=", "!=", "<>", "<", "<=", ">", ">="):
        raise SoqlError(f"expected an operator after {field}, found {op!r}")
    return Condition(field, "!=" if op == "<>" else op, _literal(t.take()))


def quote(value: str) -> str:
    """A string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
