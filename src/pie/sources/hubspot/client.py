"""A thin async HubSpot CRM client on httpx: auth (a private-app token, or OAuth with a refresh
token, refreshed before it expires and when HubSpot says it has), the date-versioned paths
with the legacy ``v3``/``v4`` ones as fallback, and HubSpot's rate limits.

Rate limits: a 429 says which policy it hit (``policyName``). ``DAILY`` stops the sync (raise,
the committed batches and cursors stay); the others wait and retry: ``Retry-After`` when the
response has it (HubSpot does not document it), else one second for ``SECONDLY`` and an
exponential backoff with jitter up to the ten-second interval for the rolling burst limit. A
response whose ``X-HubSpot-RateLimit-Remaining`` is 0 makes the next request wait for the
interval first. 5xx and network errors are retried with backoff too.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from pie.domain.errors import ConnectorError, PermanentError, TransientError

VERSION = "2026-03"
DEFAULT_BASE_URL = "https://api.hubapi.com"
#: path family -> (date-versioned prefix, legacy prefix)
_PREFIXES: Mapping[str, tuple[str, str]] = {
    "objects": (f"/crm/objects/{VERSION}", "/crm/v3/objects"),
    "pipelines": (f"/crm/pipelines/{VERSION}", "/crm/v3/pipelines"),
    "properties": (f"/crm/properties/{VERSION}", "/crm/v3/properties"),
    "associations": (f"/crm/associations/{VERSION}", "/crm/v4/associations"),
}


@dataclass(slots=True)
class HubSpotAuth:
    """A private-app token, or OAuth: client id and secret and a refresh token (and, if known,
    the current access token and when it expires)."""

    token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    access_token: str | None = None
    expires_at: datetime | None = None

    @property
    def oauth(self) -> bool:
        return self.refresh_token is not None

    def __post_init__(self) -> None:
        if not self.token and not (self.refresh_token and self.client_id and self.client_secret):
            raise PermanentError(
                "HubSpot needs a private-app token, or a client id, client secret and refresh token"
            )

    def __repr__(self) -> str:  # never print a secret
        return f"HubSpotAuth(oauth={self.oauth})"


class RateLimited(TransientError):
    """HubSpot's daily limit is spent: the sync stops and resumes from its cursors later."""


#: Called with the new access token and its expiry after each refresh (to store them).
OnRefresh = Callable[[str, datetime], Awaitable[None] | None]


class HubSpotClient:
    def __init__(
        self,
        base_url: str,
        auth: HubSpotAuth,
        *,
        http: httpx.AsyncClient | None = None,
        max_retries: int = 8,
        backoff: float = 0.5,
        max_wait: float = 10.0,
        timeout: float = 30.0,
        on_refresh: OnRefresh | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._own_http = http is None
        self.max_retries, self.backoff, self.max_wait = max_retries, backoff, max_wait
        self.on_refresh = on_refresh
        self.sleep = sleep
        self._dated: dict[str, bool] = {}  # path family -> the date-versioned path works
        self._pause = 0.0  # seconds to wait before the next request
        self.retries = 0  # requests retried (429, 5xx, network), for reports and tests
        self.refreshes = 0

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    # --- endpoints -----------------------------------------------------------------------------

    async def search(self, object_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.call("POST", "objects", f"/{object_type}/search", json=body)

    async def batch_read(
        self,
        object_type: str,
        ids: list[str],
        properties: list[str],
        with_history: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"inputs": [{"id": i} for i in ids], "properties": properties}
        if with_history:
            body["propertiesWithHistory"] = with_history
        found = await self.call("POST", "objects", f"/{object_type}/batch/read", json=body)
        return list(found.get("results") or [])

    async def associations(
        self, from_type: str, to_type: str, ids: list[str]
    ) -> dict[str, dict[str, list[str]]]:
        """For each id, the ids of the ``to_type`` records it is associated with, in order,
        each with the labels of its association (user-defined types: ``["Decision maker"]``)."""
        body = {"inputs": [{"id": i} for i in ids]}
        found = await self.call(
            "POST", "associations", f"/{from_type}/{to_type}/batch/read", json=body
        )
        out: dict[str, dict[str, list[str]]] = {}
        for result in found.get("results") or []:
            out[str(result["from"]["id"])] = {
                str(t["toObjectId"]): [
                    str(a["label"]) for a in t.get("associationTypes") or () if a.get("label")
                ]
                for t in result.get("to") or []
            }
        return out

    async def list_page(self, object_type: str, params: Mapping[str, str]) -> dict[str, Any]:
        return await self.call("GET", "objects", f"/{object_type}", params=params)

    async def account(self) -> dict[str, Any]:
        """The portal's details (``GET /account-info/v3/details``): its id, time zone, ..."""
        response = await self._send("GET", "/account-info/v3/details", None, None)
        return self._body(response, "GET", "/account-info/v3/details")

    async def pipelines(self, object_type: str = "deals") -> list[dict[str, Any]]:
        found = await self.call("GET", "pipelines", f"/{object_type}")
        return list(found.get("results") or [])

    async def properties(self, object_type: str) -> list[dict[str, Any]]:
        found = await self.call("GET", "properties", f"/{object_type}")
        return list(found.get("results") or [])

    # --- the request loop ----------------------------------------------------------------------

    async def call(
        self,
        method: str,
        family: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> dict[str, Any]:
        dated, legacy = _PREFIXES[family]
        if self._dated.get(family, True):
            response = await self._send(method, dated + path, params, json)
            if response.status_code != 404 or family in self._dated:
                self._dated.setdefault(family, True)
                return self._body(response, method, dated + path)
            self._dated[family] = False  # no date-versioned path here: the legacy one
        response = await self._send(method, legacy + path, params, json)
        return self._body(response, method, legacy + path)

    def _body(self, response: httpx.Response, method: str, path: str) -> dict[str, Any]:
        if response.status_code in (200, 201, 207):
            body = response.json()
            return body if isinstance(body, dict) else {"results": body}
        message = _message(response)
        raise PermanentError(f"HubSpot {method} {path}: {response.status_code} {message}")

    async def _send(
        self, method: str, path: str, params: Mapping[str, str] | None, json: Any
    ) -> httpx.Response:
        refreshed = False
        attempt = 0
        while True:
            if self._pause > 0:
                await self.sleep(self._pause)
                self._pause = 0.0
            headers = {"Authorization": f"Bearer {await self._token()}"}
            try:
                response = await self._http.request(
                    method, self.base_url + path, params=params, json=json, headers=headers
                )
            except httpx.TransportError as exc:
                attempt = await self._retry(attempt, None, f"{type(exc).__name__}: {exc}")
                continue
            status = response.status_code
            if status == 401 and self.auth.oauth and not refreshed:
                refreshed = True
                await self.refresh()
                continue
            if status == 401:
                raise PermanentError(f"HubSpot refused the credentials: {_message(response)}")
            if status == 429:
                attempt = await self._rate_limited(response, attempt)
                continue
            if status >= 500:
                attempt = await self._retry(attempt, None, f"{status} {_message(response)}")
                continue
            if response.headers.get("X-HubSpot-RateLimit-Remaining") == "0":
                self._pause = min(_interval(response), self.max_wait)
            return response

    async def _rate_limited(self, response: httpx.Response, attempt: int) -> int:
        body = _json(response)
        policy = str(body.get("policyName") or "")
        if policy == "DAILY":
            raise RateLimited(f"HubSpot's daily API limit is spent: {_message(response)}")
        retry_after = response.headers.get("Retry-After")
        wait: float | None = None
        if retry_after:
            try:
                wait = float(retry_after)
            except ValueError:
                wait = None
        if wait is None and policy == "SECONDLY":
            wait = 1.0
        if wait is None:
            wait = min(self.backoff * 2**attempt, _interval(response)) * random.uniform(0.5, 1.0)
        return await self._retry(attempt, wait, f"429 {policy or 'rate limited'}")

    async def _retry(self, attempt: int, wait: float | None, what: str) -> int:
        if attempt >= self.max_retries:
            raise TransientError(f"HubSpot: gave up after {attempt + 1} tries ({what})")
        if wait is None:
            wait = self.backoff * 2**attempt * random.uniform(0.5, 1.0)
        self.retries += 1
        await self.sleep(min(wait, self.max_wait))
        return attempt + 1

    # --- auth ----------------------------------------------------------------------------------

    async def _token(self) -> str:
        auth = self.auth
        if not auth.oauth:
            return auth.token or ""
        soon = datetime.now(UTC) + timedelta(seconds=60)
        if auth.access_token is None or (auth.expires_at is not None and auth.expires_at <= soon):
            await self.refresh()
        return auth.access_token or ""

    async def refresh(self) -> None:
        """A new access token from the refresh token (``POST /oauth/v1/token``)."""
        auth = self.auth
        if not auth.oauth:
            raise PermanentError("a private-app token cannot be refreshed")
        form = {
            "grant_type": "refresh_token",
            "client_id": auth.client_id or "",
            "client_secret": auth.client_secret or "",
            "refresh_token": auth.refresh_token or "",
        }
        try:
            response = await self._http.post(self.base_url + "/oauth/v1/token", data=form)
        except httpx.TransportError as exc:
            raise TransientError(f"HubSpot token refresh failed: {exc}") from None
        if response.status_code != 200:
            raise PermanentError(f"HubSpot refused the refresh token: {_message(response)}")
        body = response.json()
        auth.access_token = str(body["access_token"])
        auth.refresh_token = str(body.get("refresh_token") or auth.refresh_token)
        auth.expires_at = datetime.now(UTC) + timedelta(seconds=int(body.get("expires_in", 1800)))
        self.refreshes += 1
        if self.on_refresh is not None:
            done = self.on_refresh(auth.access_token, auth.expires_at)
            if done is not None:
                await done


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(response: httpx.Response) -> str:
    body = _json(response)
    message = str(body.get("message") or response.reason_phrase or "")
    category = body.get("category") or body.get("status")
    return f"{category}: {message}" if category and category != "error" else message


def _interval(response: httpx.Response) -> float:
    try:
        return int(response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds", "")) / 1000
    except ValueError:
        return 10.0


__all__ = ["ConnectorError", "HubSpotAuth", "HubSpotClient", "RateLimited"]
