"""The API's parameters, each with explicit bounds checked at the edge (a value out of bounds
is a 422 in the one error body, never a 500 from deeper down). The bounds are documented in
/openapi.json and in the README's "API limits"."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Path, Query, Request
from pydantic import AfterValidator, BeforeValidator, Field

from pie.domain.errors import InvalidInput

MAX_TEXT = 200  #: characters of a free-text parameter or a record reference
MAX_OFFSET = 1_000_000_000  #: far beyond any page; keeps the databases' 64-bit integers whole
MAX_PAGE = 500  #: records per page
MAX_PERIODS = 12  #: `period` parameters per pipeline forecast
MAX_SEED = 2**63 - 1
#: Monte Carlo runs per request: the work a request may ask for is bounded.
MAX_SIMULATE_RUNS = 50_000
MAX_FORECAST_RUNS = 50_000
MAX_PIPELINE_RUNS = 20_000
MIN_RUNS = 100
#: `as_of` must fall in these years (any date whose arithmetic stays representable).
AS_OF_YEARS = (1970, 2999)
#: A period: 2026Q1 (or 2026-Q1), 2026-03 or 2026, in the years 1970 to 2999.
PERIOD_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})(-?[Qq][1-4]|-(0[1-9]|1[0-2]))?$"
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # a Unix timestamp, say


def clean_text(value: str) -> str:
    """Text a database can hold: no NUL character, no lone surrogate."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def iso_moment(value: object) -> object:
    """Only ISO 8601 text: not the Unix timestamps pydantic would also read as a moment."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("must be an ISO 8601 date or time, e.g. 2026-03-31 or 2026-03-31T12:00Z")
    return value


def bounded_moment(value: datetime | None) -> datetime | None:
    lo, hi = AS_OF_YEARS
    if value is not None and not lo <= value.year <= hi:
        raise ValueError(f"must be a moment in the years {lo} to {hi}")
    return value


CleanText = Annotated[str, AfterValidator(clean_text)]
Moment = Annotated[datetime | None, BeforeValidator(iso_moment), AfterValidator(bounded_moment)]
DEAL_REF = "A PIE deal id, or SOURCE:EXTERNAL_ID (e.g. salesforce:006Ho00000AbCdEIAV)"
REF = "A PIE id, or SOURCE:EXTERNAL_ID (e.g. salesforce:006Ho00000AbCdEIAV)"
AS_OF = (
    "Answer with what was known then (default: just after the newest event in the data); "
    f"ISO 8601, UTC when it has no zone, in the years {AS_OF_YEARS[0]} to {AS_OF_YEARS[1]}"
)

Ref = Annotated[CleanText, Path(description=REF, min_length=1, max_length=MAX_TEXT)]
DealRef = Annotated[
    CleanText,
    Path(
        description=DEAL_REF,
        min_length=1,
        max_length=MAX_TEXT,
        examples=["salesforce:006Ho00000AbCdEIAV"],
    ),
]
RefQuery = Annotated[CleanText | None, Query(description=REF, max_length=MAX_TEXT)]
SearchText = Annotated[
    CleanText | None, Query(description="Name contains (no NUL)", max_length=MAX_TEXT)
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"At most {MAX_PAGE}")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"0 to {MAX_OFFSET:,}")]
Seed = Annotated[int, Query(ge=0, le=MAX_SEED, description="0 to 2^63-1")]
AsOf = Annotated[Moment, Query(description=AS_OF)]
Period = Annotated[str, Field(pattern=PERIOD_PATTERN, max_length=8)]
Periods = Annotated[
    list[Period] | None,
    Query(
        max_length=MAX_PERIODS,
        description=f"2026Q1, 2026-03 or 2026; repeatable, at most {MAX_PERIODS}",
    ),
]

ForecastRuns = Annotated[
    int,
    Query(
        ge=MIN_RUNS,
        le=MAX_FORECAST_RUNS,
        description=f"Monte Carlo runs, {MIN_RUNS:,} to {MAX_FORECAST_RUNS:,}",
    ),
]
PipelineRuns = Annotated[
    int,
    Query(
        ge=MIN_RUNS,
        le=MAX_PIPELINE_RUNS,
        description=f"Monte Carlo runs, {MIN_RUNS:,} to {MAX_PIPELINE_RUNS:,}",
    ),
]


def _query_fields(dependant: Any) -> Iterator[Any]:
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_fields(sub)


def _is_sequence(annotation: object) -> bool:
    origin = get_origin(annotation)
    if origin in (Annotated, Union, UnionType):
        return any(_is_sequence(arg) for arg in get_args(annotation))
    return origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set)


async def no_repeated_scalars(request: Request) -> None:
    """A query parameter given twice is refused (422) unless the operation takes a list:
    ``open=true&open=false`` has no one meaning (the framework would keep the last)."""
    counts = Counter(k for k, _ in request.query_params.multi_items())
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None or all(n == 1 for n in counts.values()):
        return
    lists = {f.alias for f in _query_fields(dependant) if _is_sequence(f.field_info.annotation)}
    for name, n in counts.items():
        if n > 1 and name not in lists:
            raise InvalidInput("given more than once; give it once", field=name)
