"""Reading deals and accounts: lists, details and the pipeline summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from uuid import UUID

from pie.domain.errors import AccountNotFound, DealNotFound
from pie.domain.model import Account, Activity, Contact, Deal, StageTransition, Stakeholder
from pie.domain.summary import PipelineSummary, SummaryBuilder
from pie.ports.repositories import DealFilter
from pie.ports.uow import UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class StakeholderView:
    stakeholder: Stakeholder
    contact: Contact | None


@dataclass(frozen=True, slots=True)
class DealDetail:
    deal: Deal
    account: Account | None
    stakeholders: Sequence[StakeholderView]
    activities: Sequence[Activity]
    transitions: Sequence[StageTransition]
    #: per field, [origin, when] of the write that set its value (see pie.domain.ownership)
    provenance: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccountDetail:
    account: Account
    contacts: Sequence[Contact]
    deals: Sequence[Deal]


async def list_deals(
    uow: UnitOfWork, flt: DealFilter, *, limit: int = 50, offset: int = 0
) -> Page[Deal]:
    async with uow:
        items = await uow.deals.list(flt, limit=limit, offset=offset)
        total = await uow.deals.count(flt)
    return Page(items, total, limit, offset)


async def deal_detail(uow: UnitOfWork, deal_id: UUID) -> DealDetail:
    async with uow:
        deal = await uow.deals.get(deal_id)
        if deal is None:
            raise DealNotFound(deal_id)
        account = await uow.accounts.get(deal.account_id) if deal.account_id else None
        views = [
            StakeholderView(s, await uow.contacts.get(s.contact_id))
            for s in await uow.stakeholders.for_deal(deal_id)
        ]
        activities = await uow.activities.for_deal(deal_id)
        transitions = await uow.transitions.for_deal(deal_id)
        provenance = await uow.deals.provenance(deal_id)
    return DealDetail(deal, account, views, activities, transitions, provenance)


async def list_accounts(uow: UnitOfWork, *, limit: int = 50, offset: int = 0) -> Page[Account]:
    async with uow:
        items = await uow.accounts.list(limit=limit, offset=offset)
        total = await uow.accounts.count()
    return Page(items, total, limit, offset)


async def account_detail(
    uow: UnitOfWork, account_id: UUID, *, deal_limit: int = 50
) -> AccountDetail:
    async with uow:
        account = await uow.accounts.get(account_id)
        if account is None:
            raise AccountNotFound(account_id)
        contacts = await uow.contacts.for_account(account_id)
        deals = await uow.deals.list(DealFilter(account_id=account_id), limit=deal_limit)
    return AccountDetail(account, contacts, deals)


async def pipeline_summary(uow: UnitOfWork) -> PipelineSummary:
    builder = SummaryBuilder()
    async with uow:
        async for batch in uow.deals.iter_all():
            for deal in batch:
                builder.add(deal)
    return builder.result()
