"""HubSpot emulator and connector, wired for tests: a seeded portal served on an ephemeral
port, a client that retries quickly, and what the store should hold after a sync."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from pie.domain.stages import Stage
from pie.importing.mapping import hubspot as hs
from pie.importing.report import ImportReport
from pie.importing.service import import_source
from pie.ports.uow import UnitOfWork
from pie.sources.hubspot.client import HubSpotAuth, HubSpotClient
from pie.sources.hubspot.connector import HubSpotSource
from pie.sources.hubspot.emulator import EmulatorServer, HubSpotEmulator
from pie.sources.hubspot.portal import ENGAGEMENT_TYPES, OBJECT_TYPES, Portal, parse_hs_time
from pie.sources.hubspot.world import STAGES, seed

TOKEN = "pat-na1-test"
STAGE_OF = {sid: Stage(pie) for pie, (sid, _, _) in STAGES.items()}
KIND = {"calls": "call", "emails": "email", "meetings": "meeting", "notes": "internal"}


class Clock:
    """A clock tests move by hand; each reading is one millisecond later than the last."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Rig:
    portal: Portal
    emulator: HubSpotEmulator
    server: EmulatorServer
    clock: Clock
    clients: list[HubSpotClient] = field(default_factory=list)

    def client(self, auth: HubSpotAuth | None = None, **options: Any) -> HubSpotClient:
        options = {"backoff": 0.001, "max_wait": 0.01, **options}
        made = HubSpotClient(self.server.url, auth or HubSpotAuth(token=TOKEN), **options)
        self.clients.append(made)
        return made

    async def sync(
        self,
        uow: UnitOfWork,
        *,
        client: HubSpotClient | None = None,
        overlap: timedelta = timedelta(minutes=5),
        chunk_size: int = 10,
        skip_bad_rows: bool = True,
    ) -> ImportReport:
        source = HubSpotSource(client or self.client(), overlap=overlap, page_size=200)
        return await import_source(
            uow,
            source,
            hs.api_mapper,
            vendor="hubspot",
            chunk_size=chunk_size,
            skip_bad_rows=skip_bad_rows,
        )


@asynccontextmanager
async def rig(
    deals: int = 12, *, page_size: int = 7, search_cap: int = 10_000, **options: Any
) -> AsyncIterator[Rig]:
    clock = Clock()
    portal = seed(Portal(clock=clock, search_cap=search_cap), deals=deals, seed=11)
    latest = max(r.updated_at for t in OBJECT_TYPES for r in portal.records[t].values())
    clock.now = max(clock.now, latest + timedelta(days=1))
    emulator = HubSpotEmulator(
        portal,
        private_tokens={TOKEN},
        page_size=page_size,
        search_per_second=None,
        burst=1_000_000,
        **options,
    )
    server = EmulatorServer(emulator).start()
    made = Rig(portal, emulator, server, clock)
    try:
        yield made
    finally:
        for c in made.clients:
            await c.aclose()
        server.stop()


def expected(portal: Portal) -> dict[str, Any]:
    """What the store must hold after a full sync of ``portal``, keyed by HubSpot ids."""
    deals, transitions = {}, {}
    for r in portal.live("deals"):
        p = r.properties
        companies = portal.associated("deals", r.id, "companies")
        deals[r.id] = (
            p["dealname"],
            _decimal(p.get("amount")),
            STAGE_OF[p["dealstage"] or ""],
            dict(zip(STAGES_BY_ID, LABELS, strict=True))[p["dealstage"] or ""],
            companies[0] if companies else None,
            p.get("product_line"),
        )
        moves: list[tuple[datetime, Stage | None, Stage]] = []
        before: Stage | None = None
        for value, at in sorted(r.history.get("dealstage", []), key=lambda e: e[1]):
            stage = STAGE_OF[value or ""]
            if stage is not before:
                moves.append((at.replace(microsecond=at.microsecond // 1000 * 1000), before, stage))
                before = stage
        transitions[r.id] = moves
    accounts = {r.id: r.properties["name"] for r in portal.live("companies")}
    contacts = {
        r.id: (
            f"{r.properties['firstname']} {r.properties['lastname']}".strip(),
            r.properties.get("email"),
            next(iter(portal.associated("contacts", r.id, "companies")), None),
        )
        for r in portal.live("contacts")
    }
    activities = {}
    for kind in ENGAGEMENT_TYPES:
        for r in portal.live(kind):
            if any(
                (kind, r.id, "deals", d) in portal.associations
                for d, deal in portal.records["deals"].items()
                if deal.archived_at is not None
            ):
                continue  # PIE deletes a deal with its activities (HubSpot keeps them)
            activities[r.id] = (
                KIND[kind],
                _time(r.properties["hs_timestamp"]),
                next(iter(portal.associated(kind, r.id, "deals")), None),
                frozenset(portal.associated(kind, r.id, "contacts")),
            )
    stakeholders = {
        r.id: frozenset(portal.associated("deals", r.id, "contacts")) for r in portal.live("deals")
    }
    return {
        "accounts": accounts,
        "contacts": contacts,
        "deals": deals,
        "transitions": transitions,
        "activities": activities,
        "stakeholders": {k: v for k, v in stakeholders.items() if v},
    }


def _decimal(text: str | None) -> Decimal | str | None:
    try:
        return Decimal(text) if text else None
    except ArithmeticError:
        return text  # a bad value: the record is rejected


def _time(text: str | None) -> datetime | str | None:
    try:
        return parse_hs_time(text) if text else None
    except ValueError:
        return text  # a bad value: the record is rejected


STAGES_BY_ID = [sid for sid, _, _ in STAGES.values()]
LABELS = [label for _, label, _ in STAGES.values()]


async def stored(uow: UnitOfWork) -> dict[str, Any]:
    """The same shape, read from the store (HubSpot ids from the records' external ids)."""

    def ext(ids: dict[str, str]) -> str:
        return ids["hubspot"]

    async with uow:
        accounts, account_ext = {}, {}
        async for accounts_batch in uow.accounts.iter_all():
            for a in accounts_batch:
                accounts[ext(a.external_ids)] = a.name
                account_ext[a.id] = ext(a.external_ids)
        contacts, contact_ext = {}, {}
        async for contacts_batch in uow.contacts.iter_all():
            for c in contacts_batch:
                contacts[ext(c.external_ids)] = (
                    c.name,
                    c.email,
                    account_ext.get(c.account_id) if c.account_id else None,
                )
                contact_ext[c.id] = ext(c.external_ids)
        deals, deal_ext = {}, {}
        async for deals_batch in uow.deals.iter_all():
            for d in deals_batch:
                deals[ext(d.external_ids)] = (
                    d.name,
                    d.value,
                    d.stage,
                    d.source_stage,
                    account_ext.get(d.account_id) if d.account_id else None,
                    d.custom_fields.get("product_line"),
                )
                deal_ext[d.id] = ext(d.external_ids)
        transitions: dict[str, list[Any]] = {k: [] for k in deals}
        async for transitions_batch in uow.transitions.iter_all():
            for t in transitions_batch:
                transitions.setdefault(deal_ext[t.deal_id], []).append(
                    (t.at, t.from_stage, t.to_stage)
                )
        for moves in transitions.values():
            moves.sort(key=lambda m: m[0])
        activities = {}
        async for activities_batch in uow.activities.iter_all():
            for x in activities_batch:
                activities[ext(x.external_ids)] = (
                    x.type.value,
                    x.occurred_at,
                    deal_ext.get(x.deal_id) if x.deal_id else None,
                    frozenset(contact_ext[p] for p in x.participants),
                )
        stakeholders: dict[str, set[str]] = {}
        async for stakeholders_batch in uow.stakeholders.iter_all():
            for s in stakeholders_batch:
                if s.deal_id is not None:
                    stakeholders.setdefault(deal_ext[s.deal_id], set()).add(
                        contact_ext[s.contact_id]
                    )
    return {
        "accounts": accounts,
        "contacts": contacts,
        "deals": deals,
        "transitions": transitions,
        "activities": activities,
        "stakeholders": {k: frozenset(v) for k, v in stakeholders.items()},
    }


def tenant_of(uow: UnitOfWork) -> UUID:
    return uow.tenant_id


def differences(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """What differs, one line per record (for failing tests' messages)."""
    lines = []
    for section in want:
        for key in sorted(set(want[section]) | set(got[section])):
            if want[section].get(key) != got[section].get(key):
                lines.append(
                    f"{section} {key}: want {want[section].get(key)} got {got[section].get(key)}"
                )
    return lines
