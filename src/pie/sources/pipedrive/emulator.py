"""A local Pipedrive API on 127.0.0.1: real HTTP, the fact sheet's shapes (docs/connectors-
pipedrive.md lists what it serves).

* API v2 lists ``GET /api/v2/{deals,persons,organizations,activities,pipelines,stages}`` with
  ``limit`` (default 100, at most ``max_limit``), ``cursor`` / ``additional_data.next_cursor``,
  ``updated_since`` (inclusive) / ``updated_until`` (exclusive), ``sort_by``
  (``id``, ``update_time``, ``add_time``; stages ``order_nr``), ``sort_direction``, deals'
  ``status`` (default ``open,won,lost``; ``deleted`` lists deleted deals), ``pipeline_id``,
  ``include_fields`` (a deal's ``participants_count`` is sent only when asked for, there and
  on ``GET /api/v2/deals/{id}``).
  Deleted persons, organizations and activities are listed (``is_deleted: true``) when
  ``updated_since`` is given; otherwise left out.
* API v1: ``GET /api/v1/deals/{id}/flow`` (offset paging, newest first, ``items=dealChange``),
  ``GET /api/v1/deals/{id}/participants`` (the persons taking part: ``person_id.value``),
  ``GET /api/v1/{deal,person,organization}Fields``, ``GET /api/v1/users`` and
  ``GET /api/v1/users/me``.
* Writes: ``PATCH`` and ``DELETE /api/v2/{entity}/{id}`` (as ``World.update`` / ``delete``).
* Auth: ``x-api-token`` header or ``api_token`` query; else 401 ``unauthorized access``.
* Limits: a burst window (``burst`` requests per ``window`` seconds per token) and a daily
  token budget (``budget`` tokens; v2 lists cost 10, v1 calls 20); over either -> 429 with
  ``x-ratelimit-limit``/``-remaining``/``-reset`` and ``Retry-After`` (the budget's reset is
  the time to midnight UTC). ``inject(at, status, times)`` makes requests number ``at`` ..
  ``at + times - 1`` fail with 429 or 5xx.

Errors use Pipedrive's body: ``{"success": false, "error": ..., "error_info": ..., "data":
null, "additional_data": null}``.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pie.domain.errors import ConnectorError
from pie.sources.pipedrive.world import World, parse_time, seeded

DEFAULT_TOKEN = "pipedrive-emulator-token"
ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
V2_LISTS = ("deals", "persons", "organizations", "activities", "pipelines", "stages")
#: fields v2 sends only when ``include_fields`` asks for them (the world keeps them all)
ON_REQUEST: Mapping[str, frozenset[str]] = {"deals": frozenset({"participants_count"})}
COST_V2, COST_V1 = 10, 20
ME = {
    "id": 1,
    "name": "Emulator Admin",
    "email": "admin@pie-emulator.example",
    "company_id": 1,
    "company_name": "PIE Emulator",
    "company_domain": "pie-emulator",
}


@dataclass(slots=True)
class _Fault:
    at: int
    status: int
    times: int
    retry_after: float


@dataclass(slots=True)
class Limits:
    """Rate limits; None switches one off."""

    burst: int | None = None  # requests per window per token
    window: float = 2.0  # seconds
    budget: int | None = None  # tokens per day per company


@dataclass(slots=True)
class _Usage:
    window_start: float = 0.0
    in_window: int = 0
    tokens: int = 0


@dataclass
class Emulator:
    """``Emulator(world).start()`` serves on 127.0.0.1 (port 0: any free one) in a thread;
    ``base_url`` is where. Use as a context manager in tests."""

    world: World
    token: str = DEFAULT_TOKEN
    max_limit: int = 500
    limits: Limits = field(default_factory=Limits)
    host: str = "127.0.0.1"
    port: int = 0
    requests: int = 0  # requests served so far (counted before auth)
    log: list[str] = field(default_factory=list)  # "GET /api/v2/deals?..." of each request
    _faults: list[_Fault] = field(default_factory=list)
    _usage: _Usage = field(default_factory=_Usage)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- running ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the emulator first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> Emulator:
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI's ``emulate``)."""
        self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    # --- switches for tests ------------------------------------------------------------------

    def inject(
        self, at: int, status: int = 429, *, times: int = 1, retry_after: float = 0.0
    ) -> None:
        """Requests number ``at`` .. ``at + times - 1`` (counting every request served, from
        1) answer ``status`` (429 with rate headers, or a 5xx)."""
        with self._lock:
            self._faults.append(_Fault(at, status, times, retry_after))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # --- serving -----------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests += 1
            number = self.requests
            self.log.append(f"{method} {target}")
            fault = next((f for f in self._faults if f.at <= number < f.at + f.times), None)
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if fault is not None:
            return self._fault(fault)
        token = headers.get("x-api-token") or query.get("api_token")
        if token != self.token:
            return 401, {}, _error("unauthorized access", errorCode=401)
        cost = COST_V1 if url.path.startswith("/api/v1/") else COST_V2
        if (limited := self._limit(cost)) is not None:
            return limited
        try:
            status, data = self._route(method, url.path, query, body)
        except _HttpError as exc:
            return exc.status, {}, _error(exc.message)
        return status, self._rate_headers(), data

    def _fault(self, fault: _Fault) -> tuple[int, dict[str, str], Any]:
        if fault.status == 429:
            headers = {
                "x-ratelimit-limit": str(self.limits.burst or 80),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": _seconds(fault.retry_after),
                "retry-after": _seconds(fault.retry_after),
            }
            return 429, headers, _error("Request over limit", errorCode=429)
        return (
            fault.status,
            {},
            _error("Internal server error" if fault.status == 500 else "Service unavailable"),
        )

    def _limit(self, cost: int) -> tuple[int, dict[str, str], Any] | None:
        limits, usage = self.limits, self._usage
        with self._lock:
            if limits.budget is not None and usage.tokens + cost > limits.budget:
                now = datetime.now(UTC)
                midnight = (now + timedelta(days=1)).replace(
                    hour=0, minute=0, second=0, microsecond=0
                )
                reset = _seconds((midnight - now).total_seconds())
                headers = {
                    "x-ratelimit-limit": str(limits.budget),
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": reset,
                    "retry-after": reset,
                }
                return 429, headers, _error("Daily token budget exceeded", errorCode=429)
            if limits.burst is not None:
                clock = time.monotonic()
                if clock - usage.window_start >= limits.window:
                    usage.window_start, usage.in_window = clock, 0
                if usage.in_window >= limits.burst:
                    reset = _seconds(limits.window - (clock - usage.window_start))
                    headers = {
                        "x-ratelimit-limit": str(limits.burst),
                        "x-ratelimit-remaining": "0",
                        "x-ratelimit-reset": reset,
                        "retry-after": reset,
                    }
                    return 429, headers, _error("Request over limit", errorCode=429)
                usage.in_window += 1
            usage.tokens += cost
        return None

    def _rate_headers(self) -> dict[str, str]:
        limits, usage = self.limits, self._usage
        if limits.burst is None:
            return {}
        with self._lock:
            left = max(limits.burst - usage.in_window, 0)
            reset = limits.window - (time.monotonic() - usage.window_start)
        return {
            "x-ratelimit-limit": str(limits.burst),
            "x-ratelimit-remaining": str(left),
            "x-ratelimit-reset": _seconds(max(reset, 0.0)),
        }

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        if m := re.fullmatch(r"/api/v2/(\w+)", path):
            entity = m.group(1)
            if method != "GET" or entity not in V2_LISTS:
                raise _HttpError(404, "Unknown method .")
            return 200, self._list(entity, query)
        if m := re.fullmatch(r"/api/v2/(\w+)/(\d+)", path):
            entity, ident = m.group(1), int(m.group(2))
            return 200, self._one(method, entity, ident, body, query)
        if m := re.fullmatch(r"/api/v1/deals/(\d+)/flow", path):
            return 200, self._flow(int(m.group(1)), query)
        if m := re.fullmatch(r"/api/v1/deals/(\d+)/participants", path):
            if self.world.get("deals", int(m.group(1))) is None:
                raise _HttpError(404, "Deal not found")
            return 200, _v1_page(self.world.deal_participants(int(m.group(1))), query)
        if path == "/api/v1/users/me":
            return 200, {"success": True, "data": ME}
        if path == "/api/v1/users":
            users = [
                {
                    "id": i,
                    "name": name,
                    "email": f"user{i}@pie-emulator.example",
                    "active_flag": True,
                }
                for name, i in sorted(self.world.users.items(), key=lambda u: u[1])
            ]
            return 200, {"success": True, "data": users}
        if m := re.fullmatch(r"/api/v1/(deal|person|organization)Fields", path):
            items = self.world.fields.get(m.group(1), [])
            return 200, _v1_page(items, query)
        raise _HttpError(404, "Unknown method .")

    def _list(self, entity: str, query: dict[str, str]) -> dict[str, Any]:
        world = self.world
        limit = _int(query.get("limit"), 100, "limit")
        if not 1 <= limit <= 500:
            raise _HttpError(400, "Validation failed: limit: Parameter must be between 1 and 500")
        limit = min(limit, self.max_limit)
        sort_by = query.get("sort_by", "id")
        allowed = ("id", "update_time", "add_time") + (("order_nr",) if entity == "stages" else ())
        if sort_by not in allowed:
            raise _HttpError(
                400, f"Validation failed: sort_by: must be one of {', '.join(allowed)}"
            )
        direction = query.get("sort_direction", "asc")
        if direction not in ("asc", "desc"):
            raise _HttpError(400, "Validation failed: sort_direction: must be asc or desc")
        since = _time_param(query, "updated_since")
        until = _time_param(query, "updated_until")
        wanted = set(query.get("status", "open,won,lost").split(","))
        filters = {
            name: query[name]
            for name in ("pipeline_id", "stage_id", "org_id", "person_id", "owner_id", "deal_id")
            if name in query
        }

        def keep(r: Mapping[str, Any]) -> bool:
            if entity == "deals" and r.get("status") not in wanted:
                return False
            if entity != "deals" and since is None and r.get("is_deleted"):
                return False
            if any(str(r.get(name)) != value for name, value in filters.items()):
                return False
            at = parse_time(r["update_time"]) if since or until else None
            if since is not None and at is not None and at < since:
                return False
            return not (until is not None and at is not None and at >= until)

        rows = world.select(entity, keep)

        def key(r: Mapping[str, Any]) -> tuple[Any, int]:
            return (r.get(sort_by) or "", int(r["id"])) if sort_by != "id" else (0, int(r["id"]))

        rows.sort(key=key, reverse=direction == "desc")
        if cursor := query.get("cursor"):
            after = _decode_cursor(cursor)
            if direction == "asc":
                rows = [r for r in rows if key(r) > after]
            else:
                rows = [r for r in rows if key(r) < after]
        with world.lock:
            page = copy.deepcopy(rows[:limit])
        next_cursor = _encode_cursor(key(page[-1])) if len(rows) > limit else None
        page = [_shown(entity, r, query) for r in page]
        return {"success": True, "data": page, "additional_data": {"next_cursor": next_cursor}}

    def _one(self, method: str, entity: str, ident: int, body: bytes, query: dict[str, str]) -> Any:
        world = self.world
        if entity not in V2_LISTS or (record := world.get(entity, ident)) is None:
            raise _HttpError(404, f"{entity[:-1].capitalize()} not found")
        if method == "GET":
            return {"success": True, "data": _shown(entity, record, query)}
        if method == "PATCH":
            try:
                changes = json.loads(body or b"{}")
            except ValueError:
                raise _HttpError(400, "Invalid JSON") from None
            if not isinstance(changes, dict) or "id" in changes:
                raise _HttpError(400, "Validation failed: body must be an object without id")
            updated = world.update(entity, ident, **changes)
            return {"success": True, "data": _shown(entity, updated, query)}
        if method == "DELETE":
            world.delete(entity, ident)
            return {"success": True, "data": {"id": ident}}
        raise _HttpError(405, "Method not allowed")

    def _flow(self, deal_id: int, query: dict[str, str]) -> dict[str, Any]:
        if self.world.get("deals", deal_id) is None:
            raise _HttpError(404, "Deal not found")
        items = self.world.flow(deal_id)
        if kinds := query.get("items"):
            items = [i for i in items if i["object"] in kinds.split(",")]
        return _v1_page(items, query)


def _shown(entity: str, record: Mapping[str, Any], query: Mapping[str, str]) -> Any:
    """A v2 record as sent: without the fields only ``include_fields`` brings, unless asked."""
    hidden = ON_REQUEST.get(entity, frozenset()) - set(query.get("include_fields", "").split(","))
    if not hidden or not isinstance(record, Mapping):
        return record
    return {k: v for k, v in record.items() if k not in hidden}


class _HttpError(ConnectorError):
    """An error the emulated API answers (status and Pipedrive's error body)."""

    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message
        super().__init__(message)


def _error(message: str, **extra: Any) -> dict[str, Any]:
    return {
        "success": False,
        "error": message,
        **extra,
        "error_info": ERROR_INFO,
        "data": None,
        "additional_data": None,
    }


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.3f}"


def _int(text: str | None, default: int, name: str) -> int:
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise _HttpError(400, f"Validation failed: {name}: must be an integer") from None


def _time_param(query: Mapping[str, str], name: str) -> datetime | None:
    text = query.get(name)
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _HttpError(400, f"Validation failed: {name}: must be RFC 3339") from None
    if value.tzinfo is None:
        raise _HttpError(400, f"Validation failed: {name}: must be RFC 3339 with a zone")
    return value.astimezone(UTC)


def _encode_cursor(key: tuple[Any, int]) -> str:
    raw = json.dumps({"v": key[0], "id": key[1]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
        return decoded["v"], int(decoded["id"])
    except (ValueError, KeyError, TypeError):
        raise _HttpError(400, "Validation failed: cursor: invalid cursor") from None


def _v1_page(items: list[Any], query: Mapping[str, str]) -> dict[str, Any]:
    start = _int(query.get("start"), 0, "start")
    limit = min(_int(query.get("limit"), 100, "limit"), 500)
    page = items[start : start + limit]
    more = start + limit < len(items)
    return {
        "success": True,
        "data": page,
        "additional_data": {
            "pagination": {
                "start": start,
                "limit": limit,
                "more_items_in_collection": more,
                **({"next_start": start + limit} if more else {}),
            }
        },
        "related_objects": {},
    }


def _handler(emulator: Emulator) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, data = emulator.handle(self.command, self.path, headers, body)
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PATCH = do_DELETE = do_POST = _serve  # noqa: N815 - http.server's names

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the emulator keeps its own log

    return Handler


def serve(
    *,
    deals: int = 200,
    seed: int = 7,
    port: int = 8765,
    token: str = DEFAULT_TOKEN,
    page_size: int = 500,
) -> None:
    """Run an emulator seeded with ``deals`` sample deals until interrupted."""
    Emulator(seeded(deals, seed), token=token, port=port, max_limit=page_size).serve_forever()
