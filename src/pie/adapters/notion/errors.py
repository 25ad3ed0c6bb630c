"""notion-client and httpx failures -> PIE's CRM errors (``pie.ports.crm``), and the retry
policy PIE applies around them (the SDK's own retries are off).

- 429 ``rate_limited`` -> ``CrmRateLimited(retry_after)``;
- 529 ``service_overload``, 500, 502 (often HTML), 503, 504, a dropped or reset connection
  -> ``CrmUnavailable`` (``outcome_unknown`` unless the connection was refused);
- the client's timeout -> ``CrmTimeout``;
- 409 ``conflict_error`` -> ``CrmConflict`` (nothing applied; the caller re-reads);
- 400 / 401 / 403 / 404 -> ``CrmRejected`` with Notion's code and message, never retried.

``Retry-After`` is read as seconds with decimals ("1.5"), or an HTTP date.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from notion_client.errors import (
    APIResponseError,
    HTTPResponseError,
    RequestTimeoutError,
)
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from pie.ports.crm import (
    CrmConflict,
    CrmError,
    CrmRateLimited,
    CrmRejected,
    CrmTimeout,
    CrmUnavailable,
)

T = TypeVar("T")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (decimals allowed), or None."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds or seconds == float("inf"):  # NaN, inf
        return None
    return max(0.0, seconds)


def _body(error: HTTPResponseError) -> tuple[str, str]:
    """Notion's ``code`` and ``message`` from an error body, if it is JSON."""
    try:
        parsed = json.loads(error.body)
    except (TypeError, ValueError):
        return "", ""
    if not isinstance(parsed, dict):
        return "", ""
    return str(parsed.get("code", "")), str(parsed.get("message", ""))


def translate(error: BaseException) -> CrmError | None:
    """The CRM error for a notion-client or httpx failure; None for anything else."""
    if isinstance(error, CrmError):
        return error
    if isinstance(error, RequestTimeoutError | httpx.TimeoutException):
        return CrmTimeout("Notion did not answer in time")
    if isinstance(error, httpx.ConnectError):
        return CrmUnavailable(
            f"could not connect to Notion: {type(error).__name__}", outcome_unknown=False
        )
    if isinstance(error, httpx.TransportError):
        return CrmUnavailable(
            f"the connection to Notion failed before an answer: {type(error).__name__}"
        )
    if not isinstance(error, HTTPResponseError):
        return None
    status = error.status
    code, message = _body(error)
    if isinstance(error, APIResponseError):
        code, message = str(getattr(error.code, "value", error.code)), str(error)
    retry_after = parse_retry_after(error.headers.get("retry-after"))
    if status == 429:
        return CrmRateLimited(message or "rate limited", retry_after=retry_after)
    if status == 409:
        return CrmConflict(message or "conflict")
    if status >= 500:
        text = f"Notion answered {status}" + (f" {code}: {message}" if code else "")
        return CrmUnavailable(text, status=status, retry_after=retry_after)
    return CrmRejected(status, message or f"Notion answered {status}", code=code)


async def call(make: Callable[[], Awaitable[T]]) -> T:
    """Run one request; a notion-client or httpx failure comes out as a CRM error."""
    try:
        return await make()
    except Exception as error:  # translate() decides; anything else is re-raised as is
        crm = translate(error)
        if crm is None:
            raise
        raise crm from None


@dataclass(frozen=True)
class RetryPolicy:
    """How PIE retries one Notion operation (an operation is safe to repeat as a whole: a
    create looks its PIE id up first, an append lists the page's activities first).

    ``attempts``: tries in all (1: no retry, the sync engine's own scheduler decides).
    Waits: ``Retry-After`` when Notion sends one (plus up to ``jitter`` seconds), else
    exponential from ``initial`` doubling up to ``maximum``, with full jitter. A
    ``Retry-After`` longer than ``give_up_after`` is not slept through: the error is raised.
    """

    attempts: int = 4
    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.25
    give_up_after: float = 60.0

    def wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(retry_after) + random.uniform(0, self.jitter)
        ceiling = min(self.maximum, self.initial * 2 ** (state.attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)

    def should_retry(self, error: BaseException) -> bool:
        if not isinstance(error, CrmError) or not error.retryable:
            return False
        if isinstance(error, CrmConflict):
            return False  # re-read and re-merge first: the caller's job
        retry_after = getattr(error, "retry_after", None)
        return retry_after is None or retry_after <= self.give_up_after

    async def run(
        self, call: Callable[[], Awaitable[T]], sleep: Callable[[float], Awaitable[Any]]
    ) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=self.wait,
            retry=retry_if_exception(self.should_retry),
            sleep=sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


NO_RETRY = RetryPolicy(attempts=1)
