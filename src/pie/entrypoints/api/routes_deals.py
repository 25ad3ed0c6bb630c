"""Deals and accounts."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from pie.domain.stages import Stage
from pie.entrypoints.api.deps import UowDep
from pie.entrypoints.api.schemas import (
    AccountDetailRead,
    DealDetailRead,
    DealRead,
    PageRead,
    deal_page,
)
from pie.ports.repositories import DealFilter
from pie.services import deals as svc

router = APIRouter(prefix="/api", tags=["deals"])


@router.get("/deals", response_model=PageRead[DealRead])
async def list_deals(
    uow: UowDep,
    stage: Annotated[list[Stage] | None, Query(description="Only these stages")] = None,
    account_id: UUID | None = None,
    is_open: Annotated[bool | None, Query(alias="open")] = None,
    q: Annotated[str | None, Query(description="Name contains")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PageRead[DealRead]:
    flt = DealFilter(
        stages=tuple(stage or ()), account_id=account_id, is_open=is_open, name_contains=q
    )
    return deal_page(await svc.list_deals(uow, flt, limit=limit, offset=offset))


@router.get("/deals/{deal_id}", response_model=DealDetailRead)
async def get_deal(deal_id: UUID, uow: UowDep) -> DealDetailRead:
    return DealDetailRead.of(await svc.deal_detail(uow, deal_id))


@router.get("/accounts/{account_id}", response_model=AccountDetailRead)
async def get_account(account_id: UUID, uow: UowDep) -> AccountDetailRead:
    return AccountDetailRead.of(await svc.account_detail(uow, account_id))
