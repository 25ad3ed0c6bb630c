"""Loading deal histories (deal + account + transitions + stakeholders + activities) from the
store, the input of process mining, simulation and back-tests."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from pie.domain.errors import DealNotFound
from pie.domain.history import DealHistory
from pie.domain.model import Account, Activity, StageTransition, Stakeholder
from pie.ports.uow import UnitOfWork


async def load_histories(uow: UnitOfWork) -> list[DealHistory]:
    """Every deal of the tenant with everything that happened to it, in one transaction."""
    async with uow:
        return await histories_of(uow)


async def histories_of(uow: UnitOfWork) -> list[DealHistory]:
    """``load_histories`` inside an entered unit of work."""
    accounts: dict[UUID, Account] = {}
    async for batch in uow.accounts.iter_all():
        accounts.update((a.id, a) for a in batch)
    transitions: dict[UUID, list[StageTransition]] = defaultdict(list)
    async for t_batch in uow.transitions.iter_all():
        for t in t_batch:
            transitions[t.deal_id].append(t)
    stakeholders: dict[UUID, list[Stakeholder]] = defaultdict(list)
    async for s_batch in uow.stakeholders.iter_all():
        for s in s_batch:
            if s.deal_id is not None:
                stakeholders[s.deal_id].append(s)
    activities: dict[UUID, list[Activity]] = defaultdict(list)
    async for a_batch in uow.activities.iter_all():
        for a in a_batch:
            if a.deal_id is not None:
                activities[a.deal_id].append(a)
    histories = []
    async for d_batch in uow.deals.iter_all():
        for deal in d_batch:
            histories.append(
                DealHistory(
                    deal=deal,
                    account=accounts.get(deal.account_id) if deal.account_id else None,
                    transitions=tuple(sorted(transitions[deal.id], key=lambda t: t.at)),
                    stakeholders=tuple(stakeholders[deal.id]),
                    activities=tuple(sorted(activities[deal.id], key=lambda a: a.occurred_at)),
                )
            )

    return histories


async def load_history(uow: UnitOfWork, deal_id: UUID) -> DealHistory:
    """One deal with everything that happened to it (a handful of indexed reads, whatever the
    size of the store); DealNotFound if the tenant has no such deal."""
    async with uow:
        deal = await uow.deals.get(deal_id)
        if deal is None:
            raise DealNotFound(deal_id)
        account = await uow.accounts.get(deal.account_id) if deal.account_id else None
        transitions = await uow.transitions.for_deal(deal_id)
        stakeholders = await uow.stakeholders.for_deal(deal_id)
        activities = await uow.activities.for_deal(deal_id)
    return DealHistory(
        deal=deal,
        account=account,
        transitions=tuple(sorted(transitions, key=lambda t: t.at)),
        stakeholders=tuple(stakeholders),
        activities=tuple(sorted(activities, key=lambda a: a.occurred_at)),
    )
