"""When two deals are the same deal (seed 000, pitfall 3): an open deal on the same account,
for the same product line, whose expected close is within three months of the other's."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from pie.domain.model import Deal

MATCH_WINDOW = timedelta(days=92)


def close_dates_match(a: date | None, b: date | None) -> bool:
    """Unknown close dates match anything; known ones must be within ``MATCH_WINDOW``."""
    return a is None or b is None or abs(a - b) <= MATCH_WINDOW


def is_matching_deal(
    candidate: Deal, *, account_id: UUID, product_line: str | None, expected_close: date | None
) -> bool:
    return (
        candidate.is_open
        and candidate.account_id == account_id
        and (candidate.product_line or None) == (product_line or None)
        and close_dates_match(candidate.expected_close, expected_close)
    )
