"""A thin async client for Pipedrive's API: the token, the base URL, paging, rate limits.

* Auth: the API token in the ``x-api-token`` header (never in the URL, so it is not logged).
* Paging: API v2 lists by ``cursor`` / ``additional_data.next_cursor``; v1 by ``start`` /
  ``additional_data.pagination.next_start``.
* Pacing: an answer with ``x-ratelimit-remaining: 0`` makes it wait ``x-ratelimit-reset``
  before the next request.
* 429: waits ``Retry-After`` (else ``x-ratelimit-reset``, else backoff) and tries again; a wait
  longer than ``max_wait`` is the daily token budget: ``TransientError`` (stop, keep what is
  committed, try later). 5xx and network errors: exponential backoff with jitter, capped, up
  to ``retries`` times. 401/403: ``PermanentError``. 404: ``ApiNotFound``. Other 4xx:
  ``ConnectorError`` with the body's ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from pie.domain.errors import ConnectorError, PermanentError, TransientError

Sleep = Callable[[float], Awaitable[None]]


class ApiNotFound(ConnectorError):
    """The API answered 404: the record (or endpoint) is not there."""


@dataclass(slots=True)
class Stats:
    requests: int = 0
    retries: int = 0  # after a 429
    failures: int = 0  # 5xx and network errors retried
    waited: float = 0.0  # seconds slept for rate limits and backoff


@dataclass
class PipedriveClient:
    base_url: str  # https://{company}.pipedrive.com, or an emulator's http://127.0.0.1:PORT
    api_token: str = field(repr=False)  # sent in a header, never shown
    http: httpx.AsyncClient | None = None  # injected (tests, connection pooling) or made here
    retries: int = 6
    backoff: float = 0.5  # first backoff in seconds; doubles, capped at ``max_backoff``
    max_backoff: float = 30.0
    max_wait: float = 120.0  # a rate-limit wait longer than this: stop (daily budget)
    timeout: float = 30.0
    sleep: Sleep = asyncio.sleep
    stats: Stats = field(default_factory=Stats)
    server_time: datetime | None = None  # the API's clock at its last answer
    _own: bool = False

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=self.timeout)
            self._own = True

    async def aclose(self) -> None:
        if self._own and self.http is not None:
            await self.http.aclose()

    async def __aenter__(self) -> PipedriveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def label(self) -> str:
        return self.base_url

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``GET base_url + path`` as JSON, retrying what may be retried."""
        assert self.http is not None
        url = f"{self.base_url}{path}"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            self.stats.requests += 1
            try:
                response = await self.http.get(
                    url, params=query, headers={"x-api-token": self.api_token}
                )
            except httpx.TransportError as exc:
                attempt = await self._backoff(attempt, f"{path}: {type(exc).__name__}")
                continue
            self._server_time(response)
            if response.status_code == 200:
                await self._pace(response.headers)
                body = response.json()
                if not isinstance(body, dict) or body.get("success") is False:
                    raise ConnectorError(f"Pipedrive {path}: {_message(response)}")
                return body
            if response.status_code == 429:
                wait = _rate_wait(response.headers)
                if wait is not None and wait > self.max_wait:
                    raise TransientError(
                        f"Pipedrive's daily API budget is spent (resets in {wait:.0f} s); "
                        "what was read is stored, sync again later",
                        retry_after=wait,
                    )
                self.stats.retries += 1
                if self.stats.retries > 1000:
                    raise TransientError("Pipedrive keeps answering 429", retry_after=wait)
                wait = wait if wait is not None else self._delay(attempt)
                self.stats.waited += wait
                await self.sleep(wait)
                continue
            if response.status_code in (401, 403):
                raise PermanentError(
                    f"Pipedrive refused the API token ({response.status_code} "
                    f"{_message(response)}); check the connection's token"
                )
            if response.status_code >= 500:
                attempt = await self._backoff(attempt, f"{path}: {response.status_code}")
                continue
            if response.status_code == 404:
                raise ApiNotFound(f"Pipedrive {path}: 404 {_message(response)}")
            raise ConnectorError(f"Pipedrive {path}: {response.status_code} {_message(response)}")

    def _server_time(self, response: httpx.Response) -> None:
        """Keep the API's clock (its ``Date`` header), so windows are cut by its time."""
        value = response.headers.get("date")
        if value:
            with contextlib.suppress(TypeError, ValueError):
                self.server_time = parsedate_to_datetime(value)

    async def _pace(self, headers: httpx.Headers) -> None:
        """The burst window is used up: wait for its reset instead of earning a 429."""
        if headers.get("x-ratelimit-remaining") == "0":
            wait = _rate_wait(
                httpx.Headers({"x-ratelimit-reset": headers.get("x-ratelimit-reset", "")})
            )
            if wait is not None and wait <= self.max_wait:
                self.stats.waited += wait
                await self.sleep(wait)

    async def _backoff(self, attempt: int, what: str) -> int:
        if attempt >= self.retries:
            raise TransientError(f"Pipedrive {what}, {attempt + 1} times; try again later")
        self.stats.failures += 1
        wait = self._delay(attempt)
        self.stats.waited += wait
        await self.sleep(wait)
        return attempt + 1

    def _delay(self, attempt: int) -> float:
        cap: float = min(self.max_backoff, self.backoff * float(2**attempt))
        jitter: float = random.random()
        return cap / 2 + jitter * cap / 2

    async def pages_v2(
        self, entity: str, params: Mapping[str, Any], *, limit: int = 500
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The pages of ``GET /api/v2/{entity}``."""
        cursor: str | None = None
        while True:
            body = await self.get(f"/api/v2/{entity}", {**params, "limit": limit, "cursor": cursor})
            yield list(body.get("data") or [])
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return

    async def all_v1(
        self, path: str, params: Mapping[str, Any] | None = None, *, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Every item of a v1 list (``start``/``limit`` paging)."""
        items: list[dict[str, Any]] = []
        start = 0
        while True:
            body = await self.get(path, {**(params or {}), "start": start, "limit": limit})
            items += list(body.get("data") or [])
            paging = (body.get("additional_data") or {}).get("pagination") or {}
            if not paging.get("more_items_in_collection"):
                return items
            start = int(paging.get("next_start", start + limit))


def _rate_wait(headers: httpx.Headers) -> float | None:
    for name in ("retry-after", "x-ratelimit-reset"):
        value = headers.get(name)
        if value is not None:
            try:
                return max(float(value), 0.0)
            except ValueError:
                continue
    return None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return response.reason_phrase
