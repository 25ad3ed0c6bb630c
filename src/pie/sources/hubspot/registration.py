"""HubSpot in the connector registry (``pie.sources.registry``): its auth flows, the Source a
connection syncs with, its mapper, the credential check, the token refresh, and the emulator
``pie emulate hubspot`` starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pie.importing.mapping import MapContext, Mapper
from pie.importing.mapping import hubspot as hs
from pie.importing.report import ImportReport
from pie.importing.source import Source
from pie.ports.credentials import Secret
from pie.ports.uow import UnitOfWork
from pie.sources.hubspot.client import DEFAULT_BASE_URL, HubSpotAuth, HubSpotClient
from pie.sources.hubspot.connector import HubSpotSource, purge
from pie.sources.registry import (
    AuthField,
    AuthFlow,
    ConnectionConfig,
    EmulatorOptions,
    register,
    register_emulator,
)

if TYPE_CHECKING:
    from pie.sources.hubspot.emulator import EmulatorServer

PRIVATE_APP, OAUTH = "private-app", "refresh-token"
EMULATOR_TOKEN = "pat-na1-emulator"


class HubSpotConnector:
    vendor = "hubspot"
    title = "HubSpot"
    default_base_url = DEFAULT_BASE_URL
    auth_flows = (
        AuthFlow(
            PRIVATE_APP,
            "a private app's access token (Settings > Integrations > Private apps)",
            (AuthField("token", "the private app's access token", secret=True),),
        ),
        AuthFlow(
            OAUTH,
            "OAuth 2.0: a public app's client id and secret and a refresh token",
            (
                AuthField("client_id", "the app's client id"),
                AuthField("client_secret", "the app's client secret", secret=True),
                AuthField("refresh_token", "a refresh token of the installed app", secret=True),
            ),
        ),
    )

    def client(self, config: ConnectionConfig) -> HubSpotClient:
        """A client for the connection. A refreshed access token is saved with the
        connection's credential at once (``config.save_credentials``; during a sync the use
        case holds it until the sync's transaction is over, see
        ``pie.services.credential_saves``)."""
        base_url = config.base_url or DEFAULT_BASE_URL
        if config.auth == PRIVATE_APP:
            auth = HubSpotAuth(token=config.secret("token").reveal())
            return HubSpotClient(base_url, auth)
        access = config.credentials.get("access_token")
        expires = config.credentials.get("expires_at")
        auth = HubSpotAuth(
            client_id=config.settings.get("client_id") or _revealed(config, "client_id"),
            client_secret=config.secret("client_secret").reveal(),
            refresh_token=config.secret("refresh_token").reveal(),
            access_token=access.reveal() if access else None,
            expires_at=datetime.fromisoformat(expires.reveal()) if expires else None,
        )

        async def save(token: str, expires_at: datetime) -> None:
            await config.save_credentials(_token_fields(auth, token, expires_at))

        return HubSpotClient(base_url, auth, on_refresh=save)

    def source(self, config: ConnectionConfig, *, full: bool) -> HubSpotSource:
        overlap = int(config.settings.get("overlap_seconds", "300"))
        return HubSpotSource(self.client(config), full=full, overlap=timedelta(seconds=overlap))

    def make_mapper(self, ctx: MapContext) -> Mapper:
        return hs.api_mapper(ctx)

    async def after_sync(self, uow: UnitOfWork, source: Source, report: ImportReport) -> None:
        """After a full sync (the sync use case calls it): delete the records HubSpot purged
        (``purge``), counted in ``report.deleted``."""
        inner = getattr(source, "inner", source)
        if isinstance(inner, HubSpotSource):
            for kind, n in (await purge(uow, inner, name=source.name)).items():
                report.deleted[kind] = report.deleted.get(kind, 0) + n

    async def check(self, config: ConnectionConfig) -> str:
        client = self.client(config)
        try:
            account = await client.account()
            pipelines = await client.pipelines("deals")
        finally:
            await client.aclose()
        return (
            f"portal {account.get('portalId')} ({account.get('dataHostingLocation', '?')}), "
            f"{len(pipelines)} deal pipeline(s)"
        )

    async def refresh(self, config: ConnectionConfig) -> Mapping[str, Secret]:
        if config.auth != OAUTH:
            return {}
        client = self.client(config)
        client.on_refresh = None
        try:
            await client.refresh()
        finally:
            await client.aclose()
        auth = client.auth
        return _token_fields(auth, auth.access_token or "", auth.expires_at or datetime.now(UTC))


def _revealed(config: ConnectionConfig, name: str) -> str:
    return config.secret(name).reveal()


def _token_fields(auth: HubSpotAuth, token: str, expires_at: datetime) -> dict[str, Secret]:
    return {
        "access_token": Secret(token),
        "expires_at": Secret(expires_at.isoformat()),
        "refresh_token": Secret(auth.refresh_token or ""),
    }


@dataclass
class _Running:
    server: EmulatorServer
    base_url: str

    def stop(self) -> None:
        self.server.stop()


class HubSpotEmulatorEntry:
    """``pie emulate hubspot``: a portal seeded from the sample world. ``extra`` switches:
    ``index_lag`` (seconds), ``search_cap``, ``date_versioned`` (true/false), ``burst``,
    ``search_per_second`` (0: no limit), ``access_ttl`` (seconds)."""

    vendor = "hubspot"
    title = "HubSpot"

    def serve(self, host: str, port: int, options: EmulatorOptions) -> _Running:
        from pie.sources.hubspot.emulator import EmulatorServer, HubSpotEmulator
        from pie.sources.hubspot.portal import Portal
        from pie.sources.hubspot.world import seed

        extra = dict(options.extra)
        portal = Portal(
            index_lag=timedelta(seconds=float(extra.get("index_lag", "2"))),
            search_cap=int(extra.get("search_cap", "10000")),
        )
        seed(portal, deals=options.deals, seed=options.seed)
        per_second = int(extra.get("search_per_second", "5"))
        emulator = HubSpotEmulator(
            portal,
            private_tokens={EMULATOR_TOKEN},
            page_size=options.page_size or 100,
            date_versioned=extra.get("date_versioned", "true").lower() != "false",
            burst=int(extra.get("burst", "190")),
            search_per_second=per_second or None,
            access_ttl=timedelta(seconds=int(extra.get("access_ttl", "1800"))),
        )
        if options.fail_on is not None:
            status = 429 if options.fail_with in ("429", "quota") else int(options.fail_with)
            policy = "DAILY" if options.fail_with == "quota" else "TEN_SECONDLY_ROLLING"
            emulator.inject(status, at=options.fail_on, policy=policy)
        server = EmulatorServer(emulator, host=host, port=port).start()
        return _Running(server, server.url)

    def connect_hint(self, base_url: str) -> str:
        return f"pie connect hubspot --base-url {base_url} --token {EMULATOR_TOKEN}"


register(HubSpotConnector())
register_emulator(HubSpotEmulatorEntry())
