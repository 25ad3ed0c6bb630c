"""A local HubSpot CRM API: real HTTP on 127.0.0.1 over a ``Portal``.

Serves the date-versioned paths (``/crm/objects/2026-03/...``; turned off with
``date_versioned=False`` to make clients fall back) and the legacy ``/crm/v3`` and ``/crm/v4``
ones, private-app tokens and OAuth (``POST /oauth/v1/token`` with a refresh token; access tokens
expire), HubSpot's rate headers and 429 body (a rolling ten-second burst limit, a daily limit,
a per-second search limit), and a switch that makes the Nth request fail with 429 or a 5xx::

    emulator = HubSpotEmulator(portal, private_tokens={"pat-test"}, page_size=7)
    with EmulatorServer(emulator) as server:       # port 0: an ephemeral port
        ... server.url ...
        emulator.inject(429, at=5, count=3)         # requests 5, 6 and 7 from now get a 429
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pie.sources.hubspot.portal import OBJECT_TYPES, ApiError, Portal

VERSION = "2026-03"
_OBJECTS = "|".join(OBJECT_TYPES)
_ROUTES: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern))
    for name, pattern in (
        ("list", rf"^/crm/(?:v3/objects|objects/(?P<v>[^/]+))/(?P<type>{_OBJECTS})$"),
        ("search", rf"^/crm/(?:v3/objects|objects/(?P<v>[^/]+))/(?P<type>{_OBJECTS})/search$"),
        ("batch", rf"^/crm/(?:v3/objects|objects/(?P<v>[^/]+))/(?P<type>{_OBJECTS})/batch/read$"),
        ("get", rf"^/crm/(?:v3/objects|objects/(?P<v>[^/]+))/(?P<type>{_OBJECTS})/(?P<id>\d+)$"),
        ("merge", rf"^/crm/(?:v3/objects|objects/(?P<v>[^/]+))/(?P<type>{_OBJECTS})/merge$"),
        ("pipelines", r"^/crm/(?:v3/pipelines|pipelines/(?P<v>[^/]+))/(?P<type>deals)$"),
        ("properties", rf"^/crm/(?:v3/properties|properties/(?P<v>[^/]+))/(?P<type>{_OBJECTS})$"),
        (
            "associations",
            rf"^/crm/(?:v4/associations|associations/(?P<v>[^/]+))/(?P<type>{_OBJECTS})/"
            rf"(?P<to>{_OBJECTS})/batch/read$",
        ),
    )
]


@dataclass(slots=True)
class _Fault:
    at: int  # the request number it hits
    status: int
    policy: str


@dataclass
class HubSpotEmulator:
    portal: Portal
    private_tokens: set[str] = field(default_factory=lambda: {"pat-na1-emulator"})
    client_id: str = "emulator-client"
    client_secret: str = "emulator-secret"
    refresh_tokens: set[str] = field(default_factory=lambda: {"emulator-refresh-token"})
    access_ttl: timedelta = timedelta(seconds=1800)
    #: the largest page a list (<= 100) or a search (<= 200) serves: small ones force paging
    page_size: int = 100
    date_versioned: bool = True
    burst: int = 190  # requests per rolling 10 s, per token
    daily: int = 1_000_000
    search_per_second: int | None = 5
    portal_id: int = 24_680_135
    requests: int = 0  # API requests served (or refused) so far
    #: what was asked, in order: (method, path, token): for tests
    log: list[tuple[str, str]] = field(default_factory=list)
    _access: dict[str, datetime] = field(default_factory=dict)
    _faults: list[_Fault] = field(default_factory=list)
    _window: dict[str, deque[float]] = field(default_factory=dict)
    _search_window: dict[str, deque[float]] = field(default_factory=dict)
    _daily_used: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- switches for tests --------------------------------------------------------------------

    def inject(
        self, status: int, *, at: int = 1, count: int = 1, policy: str = "TEN_SECONDLY_ROLLING"
    ) -> None:
        """The ``at``-th API request from now, and the ``count - 1`` after it, fail with
        ``status`` (429 with ``policy``, or a 5xx)."""
        with self._lock:
            first = self.requests + at
            self._faults += [_Fault(first + n, status, policy) for n in range(count)]

    def expire_access_tokens(self) -> None:
        """Every OAuth access token issued so far expires now."""
        with self._lock:
            now = self.portal.clock()
            self._access = {
                t: min(at, now - timedelta(seconds=1)) for t, at in self._access.items()
            }

    # --- the app -------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])],
        )

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        if path == "/oauth/v1/token" and request.method == "POST":
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            return self._token({k: v[0] for k, v in form.items()})
        body: Any = None
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return _error(ApiError(400, "VALIDATION_ERROR", "Invalid input JSON"))
        try:
            return self._serve(request.method, path, request.query_params, body, request)
        except ApiError as err:
            return _error(err)

    def _serve(self, method: str, path: str, query: Any, body: Any, request: Request) -> Response:
        with self._lock:
            self.requests += 1
            number = self.requests
            self.log.append((method, path))
            token = self._authenticate(request.headers.get("authorization", ""))
            search = path.endswith("/search")
            fault = next((f for f in self._faults if f.at == number), None)
            if fault is not None:
                self._faults.remove(fault)
                return self._fault(fault, search)
            headers = self._limit(token, search)
        if path == "/account-info/v3/details" and method == "GET":
            return JSONResponse(
                {
                    "portalId": self.portal_id,
                    "accountType": "STANDARD",
                    "timeZone": "UTC",
                    "companyCurrency": "USD",
                    "additionalCurrencies": [],
                    "utcOffset": "+00:00",
                    "utcOffsetMilliseconds": 0,
                    "uiDomain": "app.hubspot.com",
                    "dataHostingLocation": "na1",
                },
                headers=headers,
            )
        name, match = _route(path)
        if name is None or match is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"Unknown path {path}")
        version = match.groupdict().get("v")
        if version is not None and (not self.date_versioned or version != VERSION):
            raise ApiError(404, "OBJECT_NOT_FOUND", f"Unknown API version {version}")
        object_type = match["type"]
        portal = self.portal
        status, out = 200, None
        if name == "list" and method == "GET":
            with_history = _csv(query.get("propertiesWithHistory"))
            cap = 50 if with_history else 100
            out = portal.list_page(
                object_type,
                limit=_limit(query.get("limit"), 10, min(cap, self.page_size)),
                after=query.get("after"),
                properties=_csv(query.get("properties")),
                associations=_csv(query.get("associations")),
                with_history=with_history,
                archived=query.get("archived", "false").lower() == "true",
            )
        elif name == "search" and method == "POST":
            limit = _limit(body.get("limit"), 10, min(200, self.page_size))
            out = portal.search(object_type, body, limit=limit)
        elif name == "batch" and method == "POST":
            inputs = [str(i.get("id")) for i in body.get("inputs") or []]
            if len(inputs) > 100:
                raise ApiError(400, "VALIDATION_ERROR", "Too many inputs: at most 100")
            status, out = portal.batch_read(
                object_type,
                inputs,
                body.get("properties") or [],
                body.get("propertiesWithHistory") or [],
            )
        elif name == "get" and method == "GET":
            with portal.lock:
                record = portal.records[object_type].get(match["id"])
                if record is None or record.archived_at is not None:
                    raise ApiError(404, "OBJECT_NOT_FOUND", "Object not found")
                out = portal.view(
                    record,
                    _csv(query.get("properties")),
                    with_history=_csv(query.get("propertiesWithHistory")),
                    associations=_csv(query.get("associations")),
                )
        elif name == "merge" and method == "POST":
            primary = str(body.get("primaryObjectId") or "")
            other = str(body.get("objectIdToMerge") or "")
            try:
                portal.merge(object_type, primary, other)
            except KeyError:
                raise ApiError(404, "OBJECT_NOT_FOUND", "Object not found") from None
            with portal.lock:
                out = portal.view(portal.records[object_type][primary], ["hs_merged_object_ids"])
        elif name == "pipelines" and method == "GET":
            out = {"results": [p.to_api() for p in portal.pipelines]}
        elif name == "properties" and method == "GET":
            out = {"results": _properties(portal, object_type)}
        elif name == "associations" and method == "POST":
            status, out = _associations(portal, object_type, match["to"], body)
        else:
            raise ApiError(405, "METHOD_NOT_ALLOWED", f"{method} not allowed on {path}")
        return JSONResponse(out, status_code=status, headers=headers)

    def _authenticate(self, header: str) -> str:
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if token in self.private_tokens:
            return token
        expires = self._access.get(token)
        if expires is None:
            raise ApiError(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        now = self.portal.clock()
        if now >= expires:
            ago = int((now - expires).total_seconds())
            raise ApiError(
                401,
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {ago} second(s) ago.",
            )
        return token

    def _token(self, form: dict[str, str]) -> Response:
        if form.get("grant_type") != "refresh_token":
            return JSONResponse(
                {"status": "BAD_GRANT_TYPE", "message": "grant_type must be refresh_token"}, 400
            )
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return JSONResponse(
                {"status": "BAD_CLIENT_ID", "message": "missing or unknown client id"}, 400
            )
        if form.get("refresh_token") not in self.refresh_tokens:
            return JSONResponse(
                {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"},
                400,
            )
        token = f"emu-{secrets.token_hex(12)}"
        with self._lock:
            self._access[token] = self.portal.clock() + self.access_ttl
        return JSONResponse(
            {
                "access_token": token,
                "refresh_token": form["refresh_token"],
                "expires_in": int(self.access_ttl.total_seconds()),
                "token_type": "bearer",
            }
        )

    def _limit(self, token: str, search: bool) -> dict[str, str]:
        now = time.monotonic()
        used = self._daily_used.get(token, 0)
        if used >= self.daily:
            raise _rate_limited("DAILY", "You have reached your daily limit.", self._headers(0, 0))
        if search and self.search_per_second is not None:
            window = self._search_window.setdefault(token, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self.search_per_second:
                raise _rate_limited("SECONDLY", "You have reached your secondly limit.", {})
            window.append(now)
        burst = self._window.setdefault(token, deque())
        while burst and burst[0] <= now - 10.0:
            burst.popleft()
        if len(burst) >= self.burst:
            raise _rate_limited(
                "TEN_SECONDLY_ROLLING",
                "You have reached your ten_secondly_rolling limit.",
                self._headers(0, self.daily - used),
            )
        burst.append(now)
        self._daily_used[token] = used + 1
        if search:
            return {}  # search responses carry no rate headers
        return self._headers(self.burst - len(burst), self.daily - used - 1)

    def _headers(self, remaining: int, daily_remaining: int) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(daily_remaining, 0)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(self.burst),
            "X-HubSpot-RateLimit-Remaining": str(max(remaining, 0)),
            "X-HubSpot-RateLimit-Secondly": str(max(self.burst // 10, 1)),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(remaining // 10, 0)),
        }

    def _fault(self, fault: _Fault, search: bool) -> Response:
        if fault.status == 429:
            message = f"You have reached your {fault.policy.lower()} limit."
            headers = {} if search else self._headers(0, self.daily)
            return _error(_rate_limited(fault.policy, message, headers))
        return _error(
            ApiError(fault.status, "INTERNAL_ERROR", "internal error (injected by the emulator)")
        )


class _RateLimited(ApiError):
    def __init__(self, policy: str, message: str, headers: dict[str, str]) -> None:
        super().__init__(429, "RATE_LIMITS", message)
        self.body = {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": "c033cdaa-0000-4000-8000-000000000000",
            "policyName": policy,
        }
        self.headers = headers


def _rate_limited(policy: str, message: str, headers: dict[str, str]) -> _RateLimited:
    return _RateLimited(policy, message, headers)


def _error(err: ApiError) -> JSONResponse:
    headers = err.headers if isinstance(err, _RateLimited) else None
    return JSONResponse(err.body, status_code=err.status, headers=headers)


def _route(path: str) -> tuple[str | None, re.Match[str] | None]:
    for name, pattern in _ROUTES:
        if (match := pattern.match(path)) is not None:
            return name, match
    return None, None


def _csv(value: str | None) -> list[str]:
    return [p for p in (value or "").split(",") if p]


def _limit(value: Any, default: int, cap: int) -> int:
    try:
        wanted = int(value) if value is not None else default
    except (TypeError, ValueError):
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid limit: {value!r}") from None
    return max(1, min(wanted, cap))


def _properties(portal: Portal, object_type: str) -> list[dict[str, Any]]:
    with portal.lock:
        names: set[str] = set()
        for record in portal.records[object_type].values():
            names |= set(record.properties)
        custom = portal.custom_properties[object_type]
    out = []
    for name in sorted(names | custom):
        prop: dict[str, Any] = {
            "name": name,
            "label": name.replace("_", " ").title(),
            "type": "string",
            "fieldType": "text",
            "groupName": f"{object_type[:-1]}information",
            "archived": False,
        }
        if name not in custom:
            prop["hubspotDefined"] = True
        out.append(prop)
    return out


def _labelled(portal: Portal, key: tuple[str, str, str, str]) -> list[dict[str, Any]]:
    """A labelled association's user-defined type (ids from 100 up, one per label)."""
    label = portal.labels.get(key)
    if not label:
        return []
    type_id = 100 + sorted(set(portal.labels.values())).index(label)
    return [{"category": "USER_DEFINED", "typeId": type_id, "label": label}]


def _associations(
    portal: Portal, from_type: str, to_type: str, body: Any
) -> tuple[int, dict[str, Any]]:
    from pie.sources.hubspot.portal import ASSOCIATION_TYPES, hs_time

    type_id = ASSOCIATION_TYPES.get((from_type, to_type), 1)
    results, missing = [], []
    with portal.lock:
        now = hs_time(portal.clock())
        for item in body.get("inputs") or []:
            ident = str(item.get("id"))
            found = portal.associated(from_type, ident, to_type)
            if not found:
                missing.append(ident)
                continue
            results.append(
                {
                    "from": {"id": ident},
                    "to": [
                        {
                            "toObjectId": int(other),
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None},
                                *_labelled(portal, (from_type, ident, to_type, other)),
                            ],
                        }
                        for other in found
                    ],
                }
            )
    body_out: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": now,
        "completedAt": now,
    }
    if not missing:
        return 200, body_out
    body_out["numErrors"] = len(missing)
    body_out["errors"] = [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "message": f"No {to_type} is associated with {from_type} {ident}.",
            "context": {"fromObjectId": [ident]},
        }
        for ident in missing
    ]
    return 207, body_out


class EmulatorServer:
    """Serves an emulator on ``host:port`` (port 0: an ephemeral one) in a thread."""

    def __init__(self, emulator: HubSpotEmulator, *, host: str = "127.0.0.1", port: int = 0):
        self.emulator = emulator
        config = uvicorn.Config(
            emulator.app(), host=host, port=port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.host, self.port = host, port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HubSpot emulator did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    emulator: HubSpotEmulator,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted (``pie emulate hubspot``)."""
    server = EmulatorServer(emulator, host=host, port=port).start()
    if ready is not None:
        ready(server.url)
    try:
        while server._thread is not None and server._thread.is_alive():
            server._thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
