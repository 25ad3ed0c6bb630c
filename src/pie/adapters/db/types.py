"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

#: dict and list columns: JSONB on PostgreSQL (comparable, indexable), JSON text elsewhere.
Json = JSON().with_variant(JSONB(), "postgresql")

CENT = Decimal("0.01")


def to_money(value: Decimal) -> Decimal:
    """The value as stored: rounded to cents, so a re-import of the same number is unchanged."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that always comes back as aware UTC.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones, so the value is stored as naive
    UTC and given ``tzinfo=UTC`` on the way out. Naive datetimes are refused: their meaning
    depends on the machine they were made on.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (PIE stores aware UTC only)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class _SqliteCents(Numeric[Decimal]):
    """NUMERIC(18, 2) as SQLite holds it for ``Money``: an integer of cents, passed through
    without SQLAlchemy's float conversion."""

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


class Money(TypeDecorator[Decimal]):
    """``NUMERIC(18, 2)``. SQLite has no exact decimal type, so there the value is stored as an
    integer number of cents (exact up to 18 digits) and turned back into a ``Decimal``."""

    impl = Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return _SqliteCents(18, 2)
        return dialect.type_descriptor(Numeric(18, 2))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        money = to_money(value)
        return int(money.scaleb(2)) if dialect.name == "sqlite" else money

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-2)
        return Decimal(value)
