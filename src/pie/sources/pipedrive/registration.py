"""Pipedrive in the connector registry: its auth (an API token), the Source a sync reads, the
credential check, and the emulator ``pie emulate pipedrive`` starts."""

from __future__ import annotations

from collections.abc import Mapping

from pie.importing.mapping import MapContext
from pie.importing.mapping import pipedrive as mapping
from pie.importing.report import ImportReport
from pie.importing.source import Source
from pie.ports.credentials import Secret
from pie.ports.uow import UnitOfWork
from pie.sources.pipedrive.client import PipedriveClient
from pie.sources.pipedrive.connector import SOURCE, PipedriveSource, after_import
from pie.sources.pipedrive.emulator import DEFAULT_TOKEN, Emulator, Limits
from pie.sources.pipedrive.world import seeded
from pie.sources.registry import AuthField, AuthFlow, ConnectionConfig, EmulatorOptions

#: Pipedrive answers on the company's domain (https://acme.pipedrive.com); with an API token
#: api.pipedrive.com works for any company.
DEFAULT_BASE_URL = "https://api.pipedrive.com"
#: A wait longer than this after a 429 is the daily budget: ``quota`` injects one.
QUOTA_RESET = 86_400.0


class PipedriveConnector:
    vendor = SOURCE
    title = "Pipedrive"
    default_base_url = DEFAULT_BASE_URL
    auth_flows = (
        AuthFlow(
            "api-token",
            "A personal API token (Settings > Personal preferences > API)",
            (AuthField("api_token", "the API token", secret=True),),
        ),
    )

    def client(self, config: ConnectionConfig) -> PipedriveClient:
        token = config.secret("api_token").reveal()
        return PipedriveClient(config.base_url or DEFAULT_BASE_URL, token)

    def source(self, config: ConnectionConfig, *, full: bool) -> PipedriveSource:
        """The source closes its client with ``aclose()``."""
        return PipedriveSource(self.client(config), full=full)

    def make_mapper(self, ctx: MapContext) -> mapping.PipedriveMapper:
        return mapping.mapper(ctx)

    async def check(self, config: ConnectionConfig) -> str:
        async with self.client(config) as client:
            body = await client.get("/api/v1/users/me")
        me = body.get("data") or {}
        return f"company {me.get('company_name', '?')} ({me.get('company_domain', '?')})"

    async def refresh(self, config: ConnectionConfig) -> Mapping[str, Secret]:
        return {}  # API tokens do not expire

    async def after_sync(self, uow: UnitOfWork, source: Source, report: ImportReport) -> None:
        """What a sync does after ``import_source`` (for the sync use case to call): delete
        the records Pipedrive purged, for the streams read whole (a full sync, or a cursor
        older than the purge horizon), and remember the records not stored, to read them again
        next time. ``source`` may wrap the Pipedrive source (``inner``); its ``name`` is the
        one the ids are kept under."""
        inner = getattr(source, "inner", source)
        if isinstance(inner, PipedriveSource):
            await after_import(uow, inner, report, name=source.name)


class RunningPipedrive:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    @property
    def base_url(self) -> str:
        return self.emulator.base_url

    def stop(self) -> None:
        self.emulator.stop()


class PipedriveEmulator:
    vendor = SOURCE
    title = "Pipedrive"

    def serve(self, host: str, port: int, options: EmulatorOptions) -> RunningPipedrive:
        """Seeded from the sample world; ``--set token=...`` sets the accepted API token,
        ``--set burst=N`` / ``budget=N`` switch the rate limits on."""
        extra = options.extra
        emulator = Emulator(
            seeded(options.deals, options.seed),
            token=extra.get("token", DEFAULT_TOKEN),
            host=host,
            port=port,
            max_limit=options.page_size or 500,
            limits=Limits(
                burst=int(extra["burst"]) if "burst" in extra else None,
                budget=int(extra["budget"]) if "budget" in extra else None,
            ),
        )
        if options.fail_on is not None:
            if options.fail_with == "quota":
                emulator.inject(options.fail_on, 429, retry_after=QUOTA_RESET)
            else:
                emulator.inject(options.fail_on, int(options.fail_with))
        return RunningPipedrive(emulator.start())

    def connect_hint(self, base_url: str) -> str:
        return f"pie connect pipedrive --base-url {base_url} --api-token {DEFAULT_TOKEN}"
