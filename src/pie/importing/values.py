"""Parsing of the cell and field values import files hold. Each parser raises ``BadValue`` with
the problem; the caller adds the file, record and field."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation


class BadValue(ValueError):
    """A value that does not parse; ``str()`` is the problem, e.g. "is not a date: '31/02'"."""


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_US_DATETIME = re.compile(
    r"^(\d{1,2})/(\d{1,2})/(\d{4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?$"
)
_MONEY = re.compile(r"^(?:([A-Za-z]{3})\s*)?([-+]?)\s*([0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)$")
_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "f"})


def parse_date(text: str) -> date:
    """ISO 8601 (``2025-06-30``, a datetime's date part is accepted) or US ``6/30/2025``."""
    value = text.strip()
    if m := _US_DATE.match(value):
        month, day, year = map(int, m.groups())
        try:
            return date(year, month, day)
        except ValueError:
            raise BadValue(f"is not a date: {text!r}") from None
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        raise BadValue(f"is not a date (expected YYYY-MM-DD): {text!r}") from None


def _iso_timestamp(value: str) -> datetime | None:
    """The usual case, quickly: an ISO 8601 date and time (None for anything else)."""
    if len(value) > 10 and value[4] == "-" and value[10] in "Tt ":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def parse_timestamp(text: str, *, require_zone: bool = False) -> datetime:
    """ISO 8601, a date alone (midnight), or US ``6/30/2025 2:05 PM``; returned in UTC.
    Without a time zone the time is taken as UTC unless ``require_zone``."""
    value = text.strip()
    parsed = _iso_timestamp(value) or _any_timestamp(value, text)
    if parsed.tzinfo is UTC:  # the usual case: ...Z or +00:00
        return parsed
    if parsed.tzinfo is None:
        if require_zone:
            raise BadValue(f"has no time zone (add Z or +hh:mm): {text!r}")
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _any_timestamp(value: str, text: str) -> datetime:
    if m := _US_DATETIME.match(value):
        month, day, year, hour, minute = map(int, m.groups()[:5])
        second = int(m.group(6) or 0)
        if (ampm := (m.group(7) or "").lower()) and not 1 <= hour <= 12:
            raise BadValue(f"is not a time stamp: {text!r}")
        if ampm:
            hour = hour % 12 + (12 if ampm == "pm" else 0)
        try:
            return datetime(year, month, day, hour, minute, second)
        except ValueError:
            raise BadValue(f"is not a time stamp: {text!r}") from None
    if _US_DATE.match(value) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return datetime.combine(parse_date(value), time())
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadValue(
            f"is not a time stamp (expected ISO 8601, e.g. 2025-06-30T09:30:00Z): {text!r}"
        ) from None


def parse_money(text: str) -> tuple[Decimal, str | None]:
    """An amount, optionally with thousands separators and a leading ISO currency code
    (``USD 48,000.00``); returns (amount, code or None). Negative amounts are refused."""
    m = _MONEY.match(text.strip())
    if m is None:
        raise BadValue(f"is not an amount: {text!r}")
    code, sign, digits = m.groups()
    try:
        amount = Decimal(digits.replace(",", ""))
    except InvalidOperation:
        raise BadValue(f"is not an amount: {text!r}") from None
    if sign == "-" and amount != 0:
        raise BadValue(f"must not be negative: {text!r}")
    return amount, code.upper() if code else None


def check_money(value: Decimal | int | float | str) -> Decimal:
    """A JSON money value (number or decimal string) as Decimal, refused if negative."""
    if isinstance(value, str):
        return parse_money(value)[0]
    amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not amount.is_finite():
        raise BadValue(f"is not an amount: {value!r}")
    if amount < 0:
        raise BadValue(f"must not be negative: {value}")
    return amount


def parse_percent(text: str) -> float:
    """A percentage 0..100 (``80``, ``80%``) as a probability 0..1."""
    value = text.strip().removesuffix("%").strip()
    try:
        number = float(value)
    except ValueError:
        raise BadValue(f"is not a percentage: {text!r}") from None
    if not 0.0 <= number <= 100.0:
        raise BadValue(f"must be between 0 and 100: {text!r}")
    return number / 100.0


def parse_probability(text: str) -> float:
    """A probability 0..1; a number above 1 (up to 100) or with ``%`` is read as a percentage."""
    value = text.strip()
    if value.endswith("%"):
        return parse_percent(value)
    try:
        number = float(value)
    except ValueError:
        raise BadValue(f"is not a probability: {text!r}") from None
    if 0.0 <= number <= 1.0:
        return number
    if 1.0 < number <= 100.0:
        return number / 100.0
    raise BadValue(f"must be between 0 and 1 (or 0 and 100 %): {text!r}")


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadValue(f"is not true or false: {text!r}")


def parse_currency(text: str) -> str:
    value = text.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise BadValue(f"is not an ISO 4217 currency code: {text!r}")
    return value


# --- values as an API returns them (numbers, booleans, strings) or as a CSV cell -------------


def to_timestamp(value: object) -> datetime:
    """A time stamp: text as ``parse_timestamp`` reads it, or epoch milliseconds (HubSpot)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    text = str(value).strip()
    if text.isdigit() and len(text) >= 12:
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return parse_timestamp(text)


def to_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return parse_date(str(value))


def to_money(value: object) -> tuple[Decimal, str | None]:
    """An amount as ``parse_money`` reads it, or a number (an API's ``Amount``)."""
    if isinstance(value, str):
        return parse_money(value)
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return check_money(value), None
    raise BadValue(f"is not an amount: {value!r}")


def to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return parse_bool(str(value))
