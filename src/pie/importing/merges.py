"""Merging a duplicate into the record that survives it, when a source merged the two (HubSpot's
``hs_merged_object_ids``). The survivor's own data is the source's; what PIE holds only
through the duplicate moves to the survivor; then the duplicate is deleted (the change feed
gets a delete; its refs go with it, except the merged ids, which the sink has pointed at the
survivor already).

What moves, by kind (every write as the source's origin, each carrying only the moved field):

* a deal: its activities (``deal_id``). Its stage transitions and stakeholders go with it: the
  survivor's stage history and contacts are the source's, read with the survivor.
* an account: its contacts, deals and stakeholders (``account_id``) and its activities.
* a contact: its place on deals' political maps (a stakeholder of the survivor on the same
  deal, with the id ``derive_id(tenant, stakeholder, deal, contact)``, unless the survivor is
  one already) and the activities it took part in (``participants``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from uuid import UUID

from pie.domain.model import Activity, Deal, EntityKind, Stakeholder, derive_id
from pie.ports.repositories import DealFilter
from pie.ports.uow import UnitOfWork, records_of

_PAGE = 1000


async def merge(
    uow: UnitOfWork, merges: Sequence[tuple[EntityKind, UUID, UUID]], *, origin: str
) -> list[EntityKind]:
    """Merge each (kind, duplicate, survivor); the kinds of the duplicates deleted."""
    by_kind: dict[EntityKind, dict[UUID, UUID]] = {}
    for kind, duplicate, survivor in merges:
        if duplicate != survivor:
            by_kind.setdefault(kind, {})[duplicate] = survivor
    deals = by_kind.get(EntityKind.DEAL, {})
    accounts = by_kind.get(EntityKind.ACCOUNT, {})
    contacts = by_kind.get(EntityKind.CONTACT, {})
    for duplicate, survivor in deals.items():
        for activity in await uow.activities.for_deal(duplicate):
            moved = dataclasses.replace(activity, deal_id=survivor)
            await uow.activities.update(moved, origin=origin, fields=frozenset({"deal_id"}))
    for duplicate, survivor in accounts.items():
        await _move_account(uow, duplicate, survivor, origin)
    for duplicate, survivor in contacts.items():
        await _move_stakeholders(uow, duplicate, survivor, origin)
    if accounts or contacts:
        await _move_activities(uow, accounts, contacts, origin)
    deleted: list[EntityKind] = []
    for kind, pairs in by_kind.items():
        for duplicate in pairs:
            if await records_of(uow, kind).delete(duplicate, origin=origin):
                deleted.append(kind)
    return deleted


async def _move_account(uow: UnitOfWork, duplicate: UUID, survivor: UUID, origin: str) -> None:
    to = frozenset({"account_id"})
    for contact in await uow.contacts.for_account(duplicate):
        moved_contact = dataclasses.replace(contact, account_id=survivor)
        await uow.contacts.update(moved_contact, origin=origin, fields=to)
    deals: list[Deal] = []
    while page := await uow.deals.list(
        DealFilter(account_id=duplicate), limit=_PAGE, offset=len(deals)
    ):
        deals += page
    for deal in deals:
        await uow.deals.update(
            dataclasses.replace(deal, account_id=survivor), origin=origin, fields=to
        )
    for holder in await uow.stakeholders.for_account(duplicate):
        await uow.stakeholders.update(
            dataclasses.replace(holder, account_id=survivor), origin=origin, fields=to
        )


async def _move_stakeholders(uow: UnitOfWork, duplicate: UUID, survivor: UUID, origin: str) -> None:
    mine: list[tuple[UUID | None, UUID | None]] = []  # (deal, account) the survivor is on
    theirs: list[Stakeholder] = []
    async for batch in uow.stakeholders.iter_all():
        for s in batch:
            if s.contact_id == survivor:
                mine.append((s.deal_id, s.account_id if s.deal_id is None else None))
            elif s.contact_id == duplicate:
                theirs.append(s)
    for s in theirs:
        place = (s.deal_id, s.account_id if s.deal_id is None else None)
        if place in mine:
            continue  # the survivor is there already: the duplicate's row goes with it
        mine.append(place)
        ident = derive_id(
            uow.tenant_id, EntityKind.STAKEHOLDER, s.deal_id or s.account_id, survivor
        )
        await uow.stakeholders.add(
            dataclasses.replace(s, id=ident, contact_id=survivor, version=0), origin=origin
        )


async def _move_activities(
    uow: UnitOfWork, accounts: Mapping[UUID, UUID], contacts: Mapping[UUID, UUID], origin: str
) -> None:
    """Activities of a merged account, or in which a merged contact took part."""
    changed: list[tuple[Activity, frozenset[str]]] = []
    async for batch in uow.activities.iter_all():
        for a in batch:
            moved: set[str] = set()
            if a.account_id is not None and a.account_id in accounts:
                a = dataclasses.replace(a, account_id=accounts[a.account_id])
                moved.add("account_id")
            if any(p in contacts for p in a.participants):
                people = (contacts.get(p, p) for p in a.participants)
                a = dataclasses.replace(a, participants=tuple(dict.fromkeys(people)))
                moved.add("participants")
            if moved:
                changed.append((a, frozenset(moved)))
    for activity, fields in changed:
        await uow.activities.update(activity, origin=origin, fields=fields)
