"""Notion as PIE's CRM: set up the two databases (deals, contacts), check existing ones, and
open the CRM adapter for a tenant's stored configuration (the sync engine's entry point).

Where things are kept: the integration token in the tenant's encrypted credential store
(``connection:notion``), never printed or returned; the database and data source ids, which
are not secret, in the tenant's ``notion`` connection (``pie.ports.connections``, vendor
``notion``, no schedule: the sync engine runs it, not the import scheduler).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from uuid import UUID

from pie.domain.crm_fields import RecordKind
from pie.domain.errors import InvalidInput, NotConfigured
from pie.ports.connections import ACTIVE, Connection, ConnectionStore
from pie.ports.credentials import CredentialStore, Secret
from pie.ports.crm import CrmAdapter
from pie.ports.notion import NotionAdmin, NotionDatabase, SchemaReport
from pie.services.schemas.notion import NotionDatabaseRead, NotionSetupRead

CONNECTION = "notion"
#: the connection's request budget for the sync, requests a second (a connection setting)
RATE_SETTING = "requests_per_second"
DEFAULT_RATE = 2.5  # below Notion's average of 3 a second per connection
MAX_RATE = 50.0
CREDENTIAL = f"connection:{CONNECTION}"  # the same naming as pie.services.connections
NOTION_API = "https://api.notion.com"
_KEYS = {RecordKind.DEAL: "deals", RecordKind.CONTACT: "contacts"}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NotionDeps:
    connections: Callable[[UUID], ConnectionStore]
    credentials: Callable[[UUID], CredentialStore]
    admin: NotionAdmin
    #: PIE_NOTION_BASE_URL when it was set, else None (the stored one, else Notion's)
    base_url: str | None = None
    now: Callable[[], datetime] = field(default=_now)


def _settings_of(databases: Mapping[RecordKind, NotionDatabase]) -> dict[str, str]:
    out = {}
    for kind, db in databases.items():
        out[f"{_KEYS[kind]}_database_id"] = db.database_id
        if db.data_source_id:
            out[f"{_KEYS[kind]}_data_source_id"] = db.data_source_id
    return out


def _databases_of(settings: Mapping[str, str]) -> dict[RecordKind, NotionDatabase]:
    out = {}
    for kind, key in _KEYS.items():
        db = settings.get(f"{key}_database_id")
        if db is None:
            raise NotConfigured("Notion is not set up: run `pie notion setup --parent PAGE_ID`")
        out[kind] = NotionDatabase(db, settings.get(f"{key}_data_source_id"))
    return out


def _read(report: SchemaReport) -> list[NotionDatabaseRead]:
    return [
        NotionDatabaseRead(
            kind=kind.value,
            database_id=db.database_id,
            data_source_id=db.data_source_id,
            problems=list(report.problems.get(kind, ())),
        )
        for kind, db in report.databases.items()
    ]


def check_rate(rate: float) -> float:
    if not 0 < rate <= MAX_RATE:
        raise InvalidInput(
            f"must be more than 0 and at most {MAX_RATE:g} requests a second (Notion allows "
            f"about 3; the default is {DEFAULT_RATE:g})",
            field="rate",
        )
    return float(rate)


def _rate_of(settings: Mapping[str, str]) -> float:
    try:
        return check_rate(float(settings.get(RATE_SETTING, DEFAULT_RATE)))
    except (TypeError, ValueError, InvalidInput):
        return DEFAULT_RATE


async def sync_rate(deps: NotionDeps, tenant_id: UUID, *, set_to: float | None = None) -> float:
    """The request budget (requests a second) the sync spends on the tenant's Notion
    connection; ``set_to`` stores a new one first (it holds for every later run)."""
    stored = await _stored(deps, tenant_id)
    if stored is None:
        raise NotConfigured("Notion is not set up: run `pie notion setup --parent PAGE_ID`")
    if set_to is None:
        return _rate_of(stored.settings)
    rate = check_rate(set_to)
    settings = {**stored.settings, RATE_SETTING: repr(rate)}
    await deps.connections(tenant_id).save(
        replace(stored, settings=settings, updated_at=deps.now())
    )
    return rate


async def _token(deps: NotionDeps, tenant_id: UUID, token: Secret | None) -> Secret:
    if token is not None and token.reveal().strip():
        return Secret(token.reveal().strip())
    stored = await deps.credentials(tenant_id).get(CREDENTIAL)
    if not stored or "token" not in stored:
        raise NotConfigured(
            "no Notion token stored: give one (PIE_NOTION_TOKEN, or the prompt of "
            "`pie notion setup`)"
        )
    return stored["token"]


async def _save(
    deps: NotionDeps,
    tenant_id: UUID,
    token: Secret,
    databases: Mapping[RecordKind, NotionDatabase],
    base_url: str,
    rate: float | None = None,
) -> Connection:
    await deps.credentials(tenant_id).put(CREDENTIAL, {"token": token})
    store = deps.connections(tenant_id)
    existing = await store.by_name(CONNECTION)
    now = deps.now()
    if existing is not None and existing.vendor != CONNECTION:
        raise InvalidInput(
            f"the connection {CONNECTION!r} is a {existing.vendor} connection", field="name"
        )
    kept = existing.settings.get(RATE_SETTING) if existing is not None else None
    chosen = repr(rate) if rate is not None else kept
    extra = {RATE_SETTING: chosen} if chosen is not None else {}
    if existing is None:
        return await store.add(
            Connection(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                vendor=CONNECTION,
                name=CONNECTION,
                base_url=base_url,
                auth="token",
                settings={**_settings_of(databases), **extra},
                credential=CREDENTIAL,
                schedule_minutes=None,
                state=ACTIVE,
                created_at=now,
                updated_at=now,
            )
        )
    return await store.save(
        replace(
            existing,
            base_url=base_url,
            settings={**_settings_of(databases), **extra},
            updated_at=now,
        )
    )


async def _stored(deps: NotionDeps, tenant_id: UUID) -> Connection | None:
    return await deps.connections(tenant_id).by_name(CONNECTION)


def _base_url(deps: NotionDeps, stored: Connection | None) -> str:
    return deps.base_url or (stored.base_url if stored else None) or NOTION_API


async def setup(
    deps: NotionDeps,
    tenant_id: UUID,
    parent_page_id: str,
    *,
    token: Secret | None = None,
    again: bool = False,
    rate: float | None = None,
) -> NotionSetupRead:
    """Create the deals and contacts databases under ``parent_page_id`` with PIE's schema,
    then store the token (encrypted) and the ids. A tenant already set up keeps its
    databases unless ``again`` (new, empty ones replace them; the old ones stay in Notion).
    ``rate``: the sync's request budget on this connection (requests a second)."""
    if not parent_page_id.strip():
        raise InvalidInput(
            "give the id of a Notion page shared with the integration", field="parent"
        )
    stored = await _stored(deps, tenant_id)
    if stored is not None and not again:
        ids = ", ".join(f"{k} {v}" for k, v in sorted(stored.settings.items()) if "database" in k)
        raise InvalidInput(
            f"Notion is set up already ({ids}): `pie notion check` validates it; pass --again "
            "to create new databases",
            field="parent",
        )
    if rate is not None:
        check_rate(rate)
    secret = await _token(deps, tenant_id, token)
    base_url = _base_url(deps, stored)
    made = await deps.admin.create_databases(secret, parent_page_id.strip(), base_url)
    await _save(deps, tenant_id, secret, made, base_url, rate)
    report = SchemaReport(made, dict.fromkeys(made, ()))
    return NotionSetupRead(
        connection=CONNECTION, base_url=base_url, databases=_read(report), ok=True
    )


async def check(
    deps: NotionDeps,
    tenant_id: UUID,
    *,
    token: Secret | None = None,
    deals_database: str | None = None,
    contacts_database: str | None = None,
) -> NotionSetupRead:
    """Validate the stored databases, or the ones given (which are then stored when both
    have PIE's schema): every missing or mistyped property is named."""
    stored = await _stored(deps, tenant_id)
    base_url = _base_url(deps, stored)
    databases = _databases_of(stored.settings) if stored else {}
    given = {RecordKind.DEAL: deals_database, RecordKind.CONTACT: contacts_database}
    for kind, db_id in given.items():
        if db_id:
            databases[kind] = NotionDatabase(db_id.strip())
    if set(databases) != set(RecordKind):
        raise NotConfigured(
            "Notion is not set up: run `pie notion setup --parent PAGE_ID`, or name both "
            "databases (--deals and --contacts)"
        )
    secret = await _token(deps, tenant_id, token)
    report = await deps.admin.check(secret, databases, base_url)
    if report.ok:
        await _save(deps, tenant_id, secret, report.databases, base_url)
    return NotionSetupRead(
        connection=CONNECTION, base_url=base_url, databases=_read(report), ok=report.ok
    )


@asynccontextmanager
async def crm(
    deps: NotionDeps,
    tenant_id: UUID,
    *,
    retries: bool = False,
    gate: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[CrmAdapter]:
    """The tenant's Notion CRM adapter, ready (data sources resolved once and stored); the
    sync engine's way to Notion. ``retries`` False (default): the adapter raises every
    failure as a CRM error and the engine's scheduler retries (one retry owner, so the rate
    budget counts every request)."""
    stored = await _stored(deps, tenant_id)
    if stored is None:
        raise NotConfigured("Notion is not set up: run `pie notion setup --parent PAGE_ID`")
    databases = _databases_of(stored.settings)
    secret = await _token(deps, tenant_id, None)
    base_url = _base_url(deps, stored)
    adapter, resolved = await deps.admin.open_adapter(
        secret, databases, base_url, retries=retries, gate=gate
    )
    try:
        if dict(resolved) != databases:
            await _save(deps, tenant_id, secret, resolved, stored.base_url or base_url)
        yield adapter
    finally:
        close = getattr(adapter, "aclose", None)
        if close is not None:
            await close()
