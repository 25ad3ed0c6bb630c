"""A fake vendor for the connection and job tests: ``fakecrm``, an in-memory "API" of
Salesforce-shaped opportunities that pages with a (modified, id) cursor, refuses unknown
tokens, and can fail (transiently or for good) or stall on purpose. ``FakeEmulator`` serves
the same API over HTTP for ``pie emulate``."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pie.domain.errors import PermanentError, TransientError
from pie.importing.mapping import MapContext, Mapper, salesforce
from pie.importing.source import RawRecord
from pie.ports.credentials import Secret
from pie.sources.registry import (
    AuthField,
    AuthFlow,
    ConnectionConfig,
    EmulatorOptions,
)

VENDOR = "fakecrm"
GOOD_TOKEN = "fake-token-1234567890"


def opportunity(i: int, stage: str = "Prospecting", modified: int = 1) -> dict[str, Any]:
    return {
        "Id": f"006{i:05d}",
        "Name": f"Deal {i}",
        "StageName": stage,
        "Amount": 1000.0 * i,
        "CloseDate": "2025-06-30",
        "CreatedDate": "2025-01-10T09:12:03.000+0000",
        "LastModifiedDate": "2025-05-01T14:00:00.000+0000",
        "SystemModstamp": f"2025-05-01T14:00:{modified:02d}.000+0000",
        "IsClosed": False,
        "IsWon": False,
    }


@dataclass
class FakeApi:
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=lambda: {GOOD_TOKEN})
    page_size: int = 3
    #: errors to raise, one per page read, before the page's records
    failures: list[Exception] = field(default_factory=list)
    stall: asyncio.Event | None = None  # a sync waits on it before reading (a slow API)
    stall_seconds: float = 0.0  # or sleeps this long before reading (another process)
    syncs: int = 0  # sources opened
    opened: Counter[str] = field(default_factory=Counter)  # sources opened per connection
    full_syncs: int = 0
    refreshed: int = 0
    #: the access token expires after this many pages of a sync: the source refreshes it and
    #: saves the new one (``config.save_credentials``) before reading on
    expire_after_pages: int | None = None

    def seed(self, n: int) -> None:
        for i in range(1, n + 1):
            self.deals[f"006{i:05d}"] = opportunity(i)

    def seed_history(self, n: int) -> None:
        """``n`` deals created over two years, most of them closed (won or lost) a few weeks
        to months later: enough for the demo's mining and back-test."""
        start = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(1, n + 1):
            created = start + timedelta(days=(i * 617) % 700)
            closed = created + timedelta(days=20 + (i * 37) % 100)
            deal = opportunity(i)
            deal["CreatedDate"] = created.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            deal["CloseDate"] = closed.date().isoformat()
            if i % 10 < 7:
                won = i % 10 < 3
                deal.update(
                    StageName="Closed Won" if won else "Closed Lost", IsClosed=True, IsWon=won
                )
                deal["LastModifiedDate"] = closed.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            else:
                deal["StageName"] = ("Qualification", "Demo", "Proposal")[i % 3]
            self.deals[deal["Id"]] = deal


class FakeSource:
    resumable = True

    def __init__(self, api: FakeApi, config: ConnectionConfig, full: bool) -> None:
        self.api, self.config, self.full = api, config, full
        self.name, self.label = VENDOR, config.base_url or "fake://fakecrm"
        self.streams: tuple[str, ...] = ("deals",)

    async def records(self, since: Mapping[str, str]) -> AsyncIterator[RawRecord]:
        api = self.api
        if self.config.secret("api_token").reveal() not in api.tokens:
            raise PermanentError(f"{self.label}: the API refused the token (401)")
        if api.stall is not None:
            await api.stall.wait()
        if api.stall_seconds:
            await asyncio.sleep(api.stall_seconds)
        after = "" if self.full else since.get("deals", "")
        rows = sorted((f"{d['SystemModstamp']}|{d['Id']}", d) for d in api.deals.values())
        rows = [(pos, d) for pos, d in rows if pos > after]
        for start in range(0, len(rows), api.page_size):
            if api.failures:
                raise api.failures.pop(0)
            if (
                api.expire_after_pages is not None
                and start == api.page_size * api.expire_after_pages
            ):
                api.refreshed += 1
                fresh = Secret(f"access-{api.refreshed}")
                await self.config.save_credentials({"access_token": fresh})
            for n, (pos, d) in enumerate(rows[start : start + api.page_size]):
                where = f"deals page {start // api.page_size + 1}, record {n + 1}"
                yield RawRecord("deals", d, where, position=pos)


class FakeConnector:
    vendor = VENDOR
    title = "Fake CRM"
    default_base_url = "fake://fakecrm"
    auth_flows = (
        AuthFlow(
            "api-token",
            "An API token",
            (
                AuthField("api_token", "the API token", secret=True),
                AuthField("account", "the account's name", required=False),
            ),
        ),
        AuthFlow(
            "refresh-token",
            "OAuth refresh token",
            (
                AuthField("client_id", "the app's client id"),
                AuthField("client_secret", "the app's client secret", secret=True),
                AuthField("refresh_token", "a refresh token", secret=True),
            ),
        ),
    )

    def __init__(self, api: FakeApi | None = None) -> None:
        self.api = api or FakeApi()

    def source(self, config: ConnectionConfig, *, full: bool) -> FakeSource:
        self.api.syncs += 1
        self.api.opened[config.name] += 1
        self.api.full_syncs += int(full)
        return FakeSource(self.api, config, full)

    def make_mapper(self, ctx: MapContext) -> Mapper:
        return salesforce.mapper(ctx)

    async def check(self, config: ConnectionConfig) -> str:
        if config.auth == "refresh-token":
            new = await self.refresh(config)
            await config.save_credentials(new)
            return "fake account (refreshed)"
        if config.secret("api_token").reveal() not in self.api.tokens:
            raise PermanentError("the API refused the token (401)")
        return f"fake account {config.settings.get('account', 'default')}"

    async def refresh(self, config: ConnectionConfig) -> Mapping[str, Secret]:
        self.api.refreshed += 1
        if not config.secret("refresh_token").reveal():
            raise PermanentError("no refresh token")
        return {"api_token": Secret(GOOD_TOKEN)}


def transient(message: str = "the API answered 503") -> TransientError:
    return TransientError(message, retry_after=1)


# --- an emulator over HTTP ----------------------------------------------------------------------


class _Running:
    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server, self._thread = server, thread
        host, port = server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class FakeEmulator:
    vendor = VENDOR
    title = "Fake CRM"

    def __init__(self) -> None:
        self.started: list[EmulatorOptions] = []

    def serve(self, host: str, port: int, options: EmulatorOptions) -> _Running:
        self.started.append(options)
        api = FakeApi()
        api.seed(options.deals)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"records": list(api.deals.values())}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer((host, port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        return _Running(server, thread)

    def connect_hint(self, base_url: str) -> str:
        return f"pie connect {VENDOR} --base-url {base_url} --api-token {GOOD_TOKEN}"
