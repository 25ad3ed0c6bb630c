from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pie.importing import values as v


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-30", date(2025, 6, 30)),
        ("6/30/2025", date(2025, 6, 30)),
        ("2025-06-30T10:00:00Z", date(2025, 6, 30)),
    ],
)
def test_parses_dates(text: str, expected: date) -> None:
    assert v.parse_date(text) == expected


@pytest.mark.parametrize("text", ["31/02/2025", "2025-13-01", "June 30", ""])
def test_refuses_what_is_not_a_date(text: str) -> None:
    with pytest.raises(v.BadValue, match="is not a date"):
        v.parse_date(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-10T09:12:03.000+0000", datetime(2025, 1, 10, 9, 12, 3, tzinfo=UTC)),
        ("2025-01-10T11:12:03+02:00", datetime(2025, 1, 10, 9, 12, 3, tzinfo=UTC)),
        ("2025-01-10 09:12", datetime(2025, 1, 10, 9, 12, tzinfo=UTC)),
        ("1/10/2025 9:12 PM", datetime(2025, 1, 10, 21, 12, tzinfo=UTC)),
        ("1/10/2025, 12:05 AM", datetime(2025, 1, 10, 0, 5, tzinfo=UTC)),
        ("2025-01-10", datetime(2025, 1, 10, tzinfo=UTC)),
    ],
)
def test_parses_time_stamps_into_utc(text: str, expected: datetime) -> None:
    assert v.parse_timestamp(text) == expected


def test_a_time_stamp_without_zone_can_be_refused() -> None:
    with pytest.raises(v.BadValue, match="no time zone"):
        v.parse_timestamp("2025-01-10T09:12:03", require_zone=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("48000", (Decimal(48000), None)),
        ("48,000.50", (Decimal("48000.50"), None)),
        ("USD 1,200", (Decimal(1200), "USD")),
        ("eur 0.5", (Decimal("0.5"), "EUR")),
        ("-0", (Decimal(0), None)),
    ],
)
def test_parses_money(text: str, expected: tuple[Decimal, str | None]) -> None:
    assert v.parse_money(text) == expected


@pytest.mark.parametrize(("text", "problem"), [("-5", "negative"), ("5 USD", "not an amount")])
def test_refuses_bad_money(text: str, problem: str) -> None:
    with pytest.raises(v.BadValue, match=problem):
        v.parse_money(text)


def test_percentages_and_probabilities() -> None:
    assert v.parse_percent("80") == 0.8
    assert v.parse_percent("80 %") == 0.8
    assert v.parse_probability("0.2") == 0.2
    assert v.parse_probability("20") == 0.2
    with pytest.raises(v.BadValue):
        v.parse_percent("120")
    with pytest.raises(v.BadValue):
        v.check_money(Decimal(-1))
