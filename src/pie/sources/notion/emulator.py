"""A Notion API emulator: a real HTTP server on 127.0.0.1 that the official ``notion-client``
talks to unchanged except for ``base_url``.

Start it from a test (port 0 picks a free port)::

    with NotionEmulator(tokens={"secret_test": "bot-1"}) as emu:
        client = AsyncClient(auth="secret_test", base_url=emu.url, retry=False)

or for a demo, ``serve("127.0.0.1", 8787)`` (``pie notion emulator --port 8787``), which blocks.

What it adds around :class:`~pie.sources.notion.emulator_model.Workspace`:

- ``Authorization: Bearer <token>`` checked against the configured tokens (401
  ``unauthorized``); each token is one integration, with its own bot user id;
- ``Notion-Version`` required (400 ``missing_version``) and must be ``2025-09-03``;
- a request budget per token (``budget=(requests, seconds)``, a sliding window) answered with
  429 ``rate_limited`` and an integer ``Retry-After``;
- injectable faults (:class:`Fault`): any status and body (529, 500, 502 with HTML, 409…),
  ``Retry-After`` values, requests that hang until the client times out, and writes that are
  applied but whose response is lost (the connection is closed without an answer);
- a request log (:attr:`NotionEmulator.log`) for rate and audit checks;
- "human" edits: :meth:`NotionEmulator.human_update` / ``human_create`` change pages with a
  person's user id as ``last_edited_by``, outside the budget and the faults, like someone
  typing in Notion. The same is reachable over HTTP under ``/_emulator/`` for demos.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pie.sources.notion.emulator_model import (
    Clock,
    JsonObj,
    NotionApiError,
    Workspace,
    normalise_id,
    validation,
)

NOTION_VERSION = "2025-09-03"
DEFAULT_TOKEN = "secret_pie_emulator"
HUMAN_USER_ID = "0b6c1a8e-5d1f-4c55-9a8e-6f0d2c7b9e11"
HUMAN_NAME = "Dana Human"

FaultKind = Literal["error", "drop", "hang"]


@dataclass
class Fault:
    """One injected failure, consumed by the next ``times`` matching requests.

    - ``error``: answer ``status`` with Notion's error body for ``code`` (or ``raw_body`` as
      is, e.g. an HTML 502), plus ``retry_after`` as the ``Retry-After`` header;
    - ``drop``: close the connection without an answer;
    - ``hang``: wait ``seconds`` (longer than the client's timeout), then close.

    ``apply=True`` performs the request first, so its effect lands but the client never sees
    the response ("write applied, response lost"). ``method`` / ``path`` (a regular
    expression searched in the path, e.g. ``r"^/v1/pages$"``) narrow which requests match.
    """

    kind: FaultKind = "error"
    status: int = 500
    code: str = "internal_server_error"
    message: str = "Unexpected error occurred."
    retry_after: str | None = None
    raw_body: str | None = None
    apply: bool = False
    seconds: float = 0.0
    method: str | None = None
    path: str | None = None
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it (the token is never kept, only its bot id)."""

    at: float  # time.monotonic() when it arrived
    method: str
    path: str
    status: int  # 0: no answer was sent (dropped or hung)
    bot: str | None
    applied: bool  # the request changed the workspace
    fault: str | None
    body: Any = None


class RateBudget:
    """A sliding window per token: at most ``requests`` in any ``seconds``."""

    def __init__(self, requests: int, seconds: float, now: Callable[[], float]) -> None:
        self.requests, self.seconds, self._now = requests, seconds, now
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """None if the request may go ahead (and counts it), else seconds until it may."""
        with self._lock:
            now = self._now()
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.seconds:
                seen.popleft()
            if len(seen) >= self.requests:
                return seen[0] + self.seconds - now
            seen.append(now)
            return None


WRITE_METHODS = ("POST", "PATCH", "DELETE")


class NotionEmulator:
    """The server plus its workspace. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: dict[str, str] | None = None,
        budget: tuple[int, float] | None = None,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        root_page_id: str | None = None,
        workspace: Workspace | None = None,
    ) -> None:
        #: token -> the integration's bot user id
        self.tokens = dict(tokens) if tokens is not None else {DEFAULT_TOKEN: str(uuid.uuid4())}
        self.workspace = workspace or Workspace(clock, root_page_id=root_page_id)
        self.monotonic = monotonic
        self.budget = RateBudget(*budget, monotonic) if budget else None
        self.faults: list[Fault] = []
        self._chaos: tuple[float, list[Fault], random.Random] | None = None
        self.log: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler, self)
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> NotionEmulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="notion-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> NotionEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    # --- test and demo controls ----------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()
            self._chaos = None

    def chaos(self, rate: float, faults: Sequence[Fault], *, seed: int = 0) -> None:
        """From now on each ``/v1`` request fails with probability ``rate``, with one of
        ``faults`` (each used as a pattern: its ``times`` is ignored), drawn from a seeded
        random stream so a failing run can be replayed. ``clear_faults()`` ends it."""
        with self._lock:
            self._chaos = (rate, list(faults), random.Random(seed))

    def human_update(
        self,
        page_id: str,
        properties: JsonObj | None = None,
        *,
        in_trash: bool | None = None,
        user_id: str = HUMAN_USER_ID,
    ) -> JsonObj:
        """A person edits a page in Notion: same rules as the API, ``last_edited_by`` = them."""
        body: JsonObj = {"properties": properties or {}}
        if in_trash is not None:
            body["in_trash"] = in_trash
        return self.workspace.update_page(page_id, body, user_id)

    def human_set(
        self, page: str, values: dict[str, str | None], *, user_id: str = HUMAN_USER_ID
    ) -> JsonObj:
        """A person types ``values`` (property name -> text; None or "" clears) into the page
        with id or title ``page`` (several pages with that title: an error naming them)."""
        ws = self.workspace
        with ws.lock:
            page_id = normalise_id(page)
            if page_id not in ws.pages:
                found = [pid for pid, title in ws.titles().items() if title == page]
                if len(found) != 1:
                    raise validation(
                        f"{len(found)} pages have the title {page!r}"
                        + (f": {', '.join(found)}" if found else "")
                    )
                page_id = found[0]
            ds = ws._page_source(ws.pages[page_id])
            if ds is None:
                raise validation(f"page {page!r} is not in a data source")
            properties: JsonObj = {}
            for name, text in values.items():
                prop = ds.by_name_or_id(name)
                if prop is None:
                    raise validation(f"{name} is not a property that exists.")
                properties[name] = {prop.type: typed_value(prop.type, text)}
            return self.human_update(page_id, properties, user_id=user_id)

    def human_create(self, body: JsonObj, *, user_id: str = HUMAN_USER_ID) -> JsonObj:
        return self.workspace.create_page(body, user_id)

    def writes(self) -> list[RequestRecord]:
        return [r for r in self.log if r.method in WRITE_METHODS and r.path.startswith("/v1/")]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            if self._chaos is not None:
                rate, pool, rng = self._chaos
                if rng.random() < rate:
                    fits = [f for f in pool if f.matches(method, path)]
                    if fits:
                        return rng.choice(fits)
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.log.append(record)

    # --- dispatch ------------------------------------------------------------------------

    def dispatch(
        self, method: str, path: str, query: dict[str, list[str]], body: JsonObj, bot: str
    ) -> JsonObj:
        """Route one authenticated ``/v1`` request to the workspace."""
        ws = self.workspace
        parts = [p for p in path.split("/") if p][1:]  # drop "v1"
        fp = query.get("filter_properties", []) + query.get("filter_properties[]", [])
        fprops = fp or None
        match (method, parts):
            case ("POST", ["databases"]):
                return ws.create_database(body, bot)
            case ("GET", ["databases", db_id]):
                return ws.retrieve_database(db_id)
            case ("POST", ["data_sources"]):
                return ws.create_data_source(body, bot)
            case ("GET", ["data_sources", ds_id]):
                return ws.retrieve_data_source(ds_id)
            case ("PATCH", ["data_sources", ds_id]):
                return ws.update_data_source(ds_id, body, bot)
            case ("POST", ["data_sources", ds_id, "query"]):
                return ws.query(ds_id, body, fprops)
            case ("POST", ["pages"]):
                return ws.create_page(body, bot)
            case ("GET", ["pages", page_id]):
                return ws.retrieve_page(page_id, fprops)
            case ("PATCH", ["pages", page_id]):
                return ws.update_page(page_id, body, bot)
            case ("PATCH", ["blocks", block_id, "children"]):
                return ws.append_children(block_id, body, bot)
            case ("GET", ["blocks", block_id, "children"]):
                size = query.get("page_size", ["100"])[0]
                if not size.isdigit():
                    raise validation(f"page_size should be a number, instead was `{size}`.")
                start = query.get("start_cursor", [None])[0]
                return ws.list_children(block_id, start, int(size))
            case ("GET", ["users", "me"]):
                return {
                    "object": "user",
                    "id": bot,
                    "type": "bot",
                    "name": "PIE",
                    "bot": {"owner": {"type": "workspace", "workspace": True}},
                }
        raise NotionApiError(400, "invalid_request_url", "Invalid request URL.")

    def dispatch_admin(self, method: str, path: str, body: JsonObj) -> Any:
        """``/_emulator/...``: demo controls, no token (the server listens on localhost)."""
        parts = [p for p in path.split("/") if p][1:]
        ws = self.workspace
        match (method, parts):
            case ("GET", ["pages"]):
                with ws.lock:
                    return [
                        {"id": pid, "title": title, "in_trash": ws.pages[pid].in_trash}
                        for pid, title in ws.titles().items()
                    ]
            case ("PATCH", ["human", "pages", page_id]):
                return self.human_update(
                    page_id, body.get("properties"), in_trash=body.get("in_trash")
                )
            case ("POST", ["human", "edit"]):
                return self.human_set(str(body.get("page", "")), dict(body.get("set") or {}))
            case ("POST", ["faults"]):
                self.inject(Fault(**body))
                return {"faults": len(self.faults)}
            case ("GET", ["root"]):
                return {"root_page_id": ws.root_page_id}
        raise NotionApiError(400, "invalid_request_url", "Invalid request URL.")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, emulator: NotionEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, handler)


def _error_body(status: int, code: str, message: str, extra: JsonObj | None = None) -> JsonObj:
    body: JsonObj = {
        "object": "error",
        "status": status,
        "code": code,
        "message": message,
        "request_id": str(uuid.uuid4()),
    }
    if extra is not None:
        body["additional_data"] = extra
    return body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the emulator keeps its own request log (and headers carry the token)."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        is_json = not isinstance(body, str)
        self.send_header("Content-Type", "application/json" if is_json else "text/html")
        self.send_header("Content-Length", str(len(raw)))
        if isinstance(body, dict) and "request_id" in body:
            self.send_header("x-request-id", str(body["request_id"]))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(2)

    def _handle(self, method: str) -> None:
        emu = self.server.emulator
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        arrived = emu.monotonic()

        def record(status: int, bot: str | None, applied: bool, fault: str | None = None) -> None:
            emu._record(RequestRecord(arrived, method, path, status, bot, applied, fault, body))

        body: Any = {}
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                record(400, None, False)
                self._send(400, _error_body(400, "invalid_json", "Error parsing JSON body."))
                return
        if not isinstance(body, dict):
            body = {}

        if path.startswith("/_emulator/"):
            try:
                self._send(200, emu.dispatch_admin(method, path, body))
            except NotionApiError as err:
                self._send(err.status, _error_body(err.status, err.code, err.message))
            except TypeError as err:
                self._send(400, _error_body(400, "invalid_request", str(err)))
            return

        # Authentication, then version, then budget, as Notion checks them.
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        bot = emu.tokens.get(token) if token else None
        if bot is None:
            record(401, None, False)
            self._send(401, _error_body(401, "unauthorized", "API token is invalid."))
            return
        version = self.headers.get("Notion-Version")
        if version is None:
            record(400, bot, False)
            self._send(
                400,
                _error_body(
                    400,
                    "missing_version",
                    "Notion-Version header failed validation: Notion-Version header should be "
                    "defined, instead was `undefined`.",
                ),
            )
            return
        if version != NOTION_VERSION:
            record(400, bot, False)
            self._send(
                400,
                _error_body(
                    400,
                    "validation_error",
                    f"Notion-Version header failed validation: this emulator speaks "
                    f"`{NOTION_VERSION}`, instead was `{version}`.",
                ),
            )
            return
        if emu.budget is not None:
            wait = emu.budget.take(bot)
            if wait is not None:
                record(429, bot, False, "rate_limited")
                self._send(
                    429,
                    _error_body(
                        429,
                        "rate_limited",
                        "You have been rate limited. Please try again in a few minutes.",
                        {"rate_limit_reason": "integration_rate_limit"},
                    ),
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
                return

        fault = emu._take_fault(method, path)
        applied = False
        result: Any = None
        error: NotionApiError | None = None
        if fault is None or fault.apply:
            try:
                result = emu.dispatch(method, path, query, body, bot)
                applied = method in WRITE_METHODS and not path.endswith("/query")
            except NotionApiError as err:
                error = err

        if fault is not None:
            label = f"{fault.kind}:{fault.status}" if fault.kind == "error" else fault.kind
            if fault.kind == "hang":
                time.sleep(fault.seconds)
            if fault.kind in ("drop", "hang"):
                record(0, bot, applied, label)
                self._drop()
                return
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            record(fault.status, bot, applied, label)
            if fault.raw_body is not None:
                self._send(fault.status, fault.raw_body, headers)
            else:
                self._send(
                    fault.status, _error_body(fault.status, fault.code, fault.message), headers
                )
            return

        if error is not None:
            record(error.status, bot, False)
            self._send(
                error.status,
                _error_body(error.status, error.code, error.message, error.additional_data),
            )
            return
        record(200, bot, applied)
        self._send(200, result)


def typed_value(kind: str, text: str | None) -> Any:
    """A property value of type ``kind`` from what a person would type."""
    if text is None or text == "":
        return [] if kind in ("title", "rich_text") else None
    if kind in ("title", "rich_text"):
        return [{"text": {"content": text}}]
    if kind == "number":
        try:
            return float(text) if "." in text or "e" in text.lower() else int(text)
        except ValueError:
            raise validation(f"{text!r} is not a number") from None
    if kind == "select":
        return {"name": text}
    if kind == "date":
        return {"start": text}
    if kind == "checkbox":
        return text.lower() in ("1", "true", "yes", "on")
    return text


def edit_as_human(base_url: str, page: str, values: dict[str, str | None]) -> JsonObj:
    """Over HTTP, for the demo (`pie notion human-edit`): a person edits a page of a running
    emulator. Returns the page; raises NotionApiError with the emulator's answer."""
    import httpx

    answer = httpx.post(
        f"{base_url.rstrip('/')}/_emulator/human/edit",
        json={"page": page, "set": values},
        timeout=10,
    )
    body = answer.json()
    if answer.status_code != 200:
        raise NotionApiError(answer.status_code, str(body.get("code")), str(body.get("message")))
    result: JsonObj = body
    return result


def serve(
    host: str = "127.0.0.1",
    port: int = 8787,
    *,
    tokens: dict[str, str] | None = None,
    budget: tuple[int, float] | None = (180, 60.0),
    root_page_id: str | None = None,
    ready: Callable[[NotionEmulator], None] | None = None,
) -> None:
    """Run the emulator in the foreground until interrupted (``pie notion emulator``).
    ``ready`` is called once it listens (the CLI prints the URL, token and root page)."""
    emu = NotionEmulator(
        host=host, port=port, tokens=tokens, budget=budget, root_page_id=root_page_id
    )
    if ready is not None:
        ready(emu)
    with contextlib.suppress(KeyboardInterrupt):
        emu.serve_forever()


__all__ = [
    "DEFAULT_TOKEN",
    "HUMAN_USER_ID",
    "NOTION_VERSION",
    "Clock",
    "Fault",
    "NotionApiError",
    "NotionEmulator",
    "RequestRecord",
    "Workspace",
    "normalise_id",
    "serve",
]
