"""Salesforce in the connector registry: its OAuth flows, the Source a sync reads, the
credential check, the token refresh, and the emulator ``pie emulate salesforce`` starts.

The connection's base URL is the token endpoint's host (``https://login.salesforce.com``,
``https://test.salesforce.com`` or the org's My Domain); the API's host comes back with the
token (``instance_url``). ``ca_file`` (a plain setting) trusts a certificate that is not in
the system's store: the emulator's self-signed one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pie.domain.errors import ConnectorError
from pie.domain.model import EntityKind
from pie.importing.mapping import MapContext
from pie.importing.mapping import salesforce as mapping
from pie.importing.report import ImportReport
from pie.importing.source import Source
from pie.ports.credentials import Secret
from pie.ports.uow import UnitOfWork
from pie.sources.registry import AuthField, AuthFlow, ConnectionConfig, EmulatorOptions
from pie.sources.salesforce.client import LOGIN_URL, Credentials, SalesforceClient
from pie.sources.salesforce.connector import SalesforceSource
from pie.sources.salesforce.emulator import SalesforceEmulator
from pie.sources.salesforce.org import seeded_org
from pie.sources.salesforce.sync import (
    CHUNK_SIZE,
    SyncResult,
    failed_of,
    load_retry,
    reconcile,
    save_retry,
)

VENDOR = "salesforce"
_CLIENT_ID = AuthField("client_id", "the connected app's consumer key")
_CLIENT_SECRET = AuthField("client_secret", "the connected app's consumer secret", secret=True)
_CA_FILE = AuthField(
    "ca_file", "a certificate to trust (the emulator's), if not the system's", required=False
)


def credentials(config: ConnectionConfig) -> Credentials:
    refresh = config.secret("refresh_token").reveal() if config.auth == "refresh-token" else None
    return Credentials(
        client_id=config.settings.get("client_id") or config.secret("client_id").reveal(),
        client_secret=config.secret("client_secret").reveal(),
        refresh_token=refresh,
        login_url=config.base_url or LOGIN_URL,
        ca_file=config.settings.get("ca_file") or None,
    )


class RegisteredSource(SalesforceSource):
    """The source a registry sync reads: when it stopped early (the daily API quota), closing
    it raises that stop, so the sync is recorded as stopped after what was read is stored."""

    async def aclose(self) -> None:
        self.client.session.close()
        if self.stopped is not None:
            raise ConnectorError(self.stopped)


class SalesforceConnector:
    vendor = VENDOR
    title = "Salesforce"
    default_base_url = LOGIN_URL
    chunk_size = CHUNK_SIZE  # records per committed batch (``sync.CHUNK_SIZE``)
    auth_flows = (
        AuthFlow(
            "refresh-token",
            "OAuth 2.0 with a connected app's refresh token (web-server flow)",
            (
                _CLIENT_ID,
                _CLIENT_SECRET,
                AuthField("refresh_token", "the OAuth refresh token", secret=True),
                _CA_FILE,
            ),
        ),
        AuthFlow(
            "client-credentials",
            "OAuth 2.0 client credentials (the org's My Domain as base URL)",
            (_CLIENT_ID, _CLIENT_SECRET, _CA_FILE),
        ),
    )

    def source(self, config: ConnectionConfig, *, full: bool) -> RegisteredSource:
        return RegisteredSource(SalesforceClient(credentials(config)), full=full)

    def make_mapper(self, ctx: MapContext) -> mapping.ApiMapper:
        return mapping.api_mapper(ctx)

    async def check(self, config: ConnectionConfig) -> str:
        client = SalesforceClient(credentials(config))
        try:
            described = await asyncio.to_thread(client.describe, "Opportunity")
        finally:
            client.session.close()
        custom = sum(1 for f in described.get("fields") or () if f.get("custom"))
        return f"org at {client.instance_url} (Opportunity: {custom} custom fields)"

    async def refresh(self, config: ConnectionConfig) -> Mapping[str, Secret]:
        """A new access token for the stored refresh token or client credentials. Access
        tokens are not stored (each sync gets one and refreshes it on expiry), and Salesforce
        keeps the refresh token, so nothing stored changes."""
        client = SalesforceClient(credentials(config))
        try:
            await asyncio.to_thread(client.authenticate)
        finally:
            client.session.close()
        return {}

    async def before_sync(self, uow: UnitOfWork, source: Source) -> None:
        """What a sync does before ``import_source`` (the sync use case calls it): load the
        list of records the last sync rejected, which the source reads again first."""
        inner = getattr(source, "inner", source)  # the sync may wrap the source
        if isinstance(inner, SalesforceSource):
            inner.name = source.name
            await load_retry(uow, inner)

    async def after_sync(self, uow: UnitOfWork, source: Source, report: ImportReport) -> None:
        """What a sync does after ``import_source`` (the sync use case calls it): remember the
        records rejected now (and those due again but not read) for the next sync, and
        reconcile the objects whose deletes could no longer all be read."""
        inner = getattr(source, "inner", source)
        if not isinstance(inner, SalesforceSource):
            return
        inner.name = source.name
        await save_retry(uow, inner, failed_of(report.rejected))
        if inner.stopped is None:
            result = SyncResult(report)
            await reconcile(uow, inner, result)
            for kind, n in result.deleted.items():  # the reconciled deletes, in the report
                key = EntityKind(kind)
                report.deleted[key] = report.deleted.get(key, 0) + n


class RunningSalesforce:
    def __init__(self, emulator: SalesforceEmulator) -> None:
        self.emulator = emulator

    @property
    def base_url(self) -> str:
        return self.emulator.url

    def stop(self) -> None:
        self.emulator.stop()


class SalesforceEmulatorEntry:
    vendor = VENDOR
    title = "Salesforce"

    def __init__(self) -> None:
        self._running: dict[str, SalesforceEmulator] = {}

    def serve(self, host: str, port: int, options: EmulatorOptions) -> RunningSalesforce:
        """HTTPS with a self-signed certificate (for 127.0.0.1 and localhost), seeded from the
        sample world. ``--set limit=N``: the daily API request limit; ``--set ttl=S``: access
        tokens expire after S seconds."""
        extra: Mapping[str, Any] = options.extra
        emulator = SalesforceEmulator(
            seeded_org(options.deals, seed=options.seed),
            page_size=options.page_size or 2000,
            host=host,
            port=port,
            daily_limit=int(extra.get("limit", 1_000_000)),
            token_ttl=float(extra.get("ttl", 7200)),
        )
        if options.fail_on is not None:
            status = 403 if options.fail_with == "quota" else int(options.fail_with)
            emulator.fail(status, at=options.fail_on)
        emulator.start()
        self._running[emulator.url] = emulator
        return RunningSalesforce(emulator)

    def connect_hint(self, base_url: str) -> str:
        em = self._running.get(base_url)
        if em is None:
            return f"pie connect salesforce --base-url {base_url} ..."
        return (
            f"pie connect salesforce --base-url {base_url} --client-id {em.client_id} "
            f"--client-secret {em.client_secret} --refresh-token {em.refresh_token} "
            f"--ca-file {em.ca_file}"
        )
