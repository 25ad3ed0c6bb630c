"""Deals and accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pie.domain.model import EntityKind
from pie.domain.stages import Stage
from pie.entrypoints.api.deps import UowDep
from pie.entrypoints.api.errors import responses
from pie.entrypoints.api.params import Limit, Offset, Ref, RefQuery, SearchText
from pie.ports.repositories import DealFilter
from pie.services import deals as svc
from pie.services.refs import resolve_id
from pie.services.schemas import (
    AccountDetailRead,
    DealDetailRead,
    DealRead,
    PageRead,
    deal_page,
)

router = APIRouter(prefix="/api", tags=["deals"], responses=responses(401, 422))

FIRST_DEAL = "$response.body#/items/0/id"


def _link(path: str, method: str = "get", **fields: object) -> dict[str, object]:
    return {"operationRef": "#/paths/" + path.replace("/", "~1") + "/" + method, **fields}


#: OpenAPI links: where a listed deal's ids lead (clients and the fuzzer's stateful run use them)
LINKS = {
    "GetDeal": _link("/api/deals/{deal_id}", parameters={"deal_id": FIRST_DEAL}),
    "ForecastDeal": _link("/api/deals/{deal_id}/forecast", parameters={"deal_id": FIRST_DEAL}),
    "GetAccount": _link(
        "/api/accounts/{account_id}",
        parameters={"account_id": "$response.body#/items/0/account_id"},
    ),
    "SimulateDeal": _link(
        "/api/simulate",
        "post",
        requestBody={"deal_id": FIRST_DEAL, "scenario": {"type": "add_champion"}},
    ),
}


@router.get(
    "/deals",
    response_model=PageRead[DealRead],
    responses={**responses(404), 200: {"links": LINKS}},
)
async def list_deals(
    uow: UowDep,
    stage: Annotated[list[Stage] | None, Query(description="Only these stages")] = None,
    account_id: RefQuery = None,
    is_open: Annotated[bool | None, Query(alias="open")] = None,
    q: SearchText = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PageRead[DealRead]:
    account = await resolve_id(uow, EntityKind.ACCOUNT, account_id) if account_id else None
    flt = DealFilter(
        stages=tuple(stage or ()), account_id=account, is_open=is_open, name_contains=q
    )
    return deal_page(await svc.list_deals(uow, flt, limit=limit, offset=offset))


@router.get("/deals/{deal_id}", response_model=DealDetailRead, responses=responses(404))
async def get_deal(deal_id: Ref, uow: UowDep) -> DealDetailRead:
    """A deal with its stakeholders, activities and stage transitions."""
    resolved = await resolve_id(uow, EntityKind.DEAL, deal_id)
    return DealDetailRead.of(await svc.deal_detail(uow, resolved))


@router.get("/accounts/{account_id}", response_model=AccountDetailRead, responses=responses(404))
async def get_account(account_id: Ref, uow: UowDep) -> AccountDetailRead:
    """An account with its contacts and deals."""
    resolved = await resolve_id(uow, EntityKind.ACCOUNT, account_id)
    return AccountDetailRead.of(await svc.account_detail(uow, resolved))
