"""Deal intelligence: conversations in, political maps, human overrides, plans and stage
explanations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from pie.domain.model import EntityKind
from pie.domain.political import RelationshipKind
from pie.entrypoints.api.deps import ContainerDep, TenantDep
from pie.entrypoints.api.errors import responses
from pie.entrypoints.api.params import Ref
from pie.services.conversations import add_conversation
from pie.services.intel_reads import explain_deal, plan_view, resolve_account
from pie.services.political_map import Override, political_map, set_override, to_svg
from pie.services.refs import resolve_id
from pie.services.schemas.intelligence import (
    ConversationRead,
    ExplainRead,
    OverrideBody,
    PlanRead,
    PoliticalMapRead,
)

router = APIRouter(prefix="/api", tags=["intelligence"], responses=responses(401, 422))


def _now() -> datetime:
    return datetime.now(UTC)


class ConversationBody(BaseModel):
    """One conversation: an email thread, chat or call transcript as text or Markdown, or a
    JSON conversation (speakers, timestamps, direction, participant emails) as a string."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, description="The conversation (at most 5 MB)")
    format: Literal["auto", "text", "markdown", "json"] = "auto"
    account_id: str | None = Field(
        default=None, max_length=300, description="Account: id, SOURCE:ID or email domain"
    )
    deal_id: str | None = Field(default=None, max_length=300, description="Deal: id or SOURCE:ID")
    seller_domains: list[Annotated[str, Field(max_length=253)]] = Field(
        default_factory=list, max_length=50, description="Email domains of your own people"
    )


@router.post(
    "/conversations",
    response_model=ConversationRead,
    responses=responses(404, 413),
)
async def post_conversation(
    body: ConversationBody, c: ContainerDep, tenant: TenantDep
) -> ConversationRead:
    """Store the conversation as an activity, run the pipeline on it, and return everything
    extracted (with verbatim evidence) and what it changed. Bad input stores nothing."""
    account = await resolve_account(c.uow(tenant), body.account_id) if body.account_id else None
    deal = await resolve_id(c.uow(tenant), EntityKind.DEAL, body.deal_id) if body.deal_id else None
    seller = tuple(d.lower() for d in body.seller_domains)
    done = await add_conversation(
        lambda: c.uow(tenant, writes=True),
        c.extractor(seller_domains=seller),
        body.content,
        fmt=body.format,
        source="body.content",
        account_id=account,
        deal_id=deal,
        seller_domains=seller,
        narrator=c.narrator(),
    )
    return ConversationRead.of(done)


@router.get(
    "/accounts/{account_id}/political-map",
    response_model=PoliticalMapRead,
    responses=responses(404),
)
async def get_political_map(
    account_id: Ref,
    c: ContainerDep,
    tenant: TenantDep,
    svg: Annotated[bool, Query(description="Also draw the map as SVG (in `svg`)")] = False,
) -> PoliticalMapRead:
    """The account's stakeholders with roles and scores (each with its source and evidence),
    their relationships, and the map as Graphviz DOT (and SVG on request)."""
    acc = await resolve_account(c.uow(tenant), account_id)
    async with c.uow(tenant) as uow:
        pm = await political_map(uow, acc)
    read = PoliticalMapRead.of(pm)
    return read.model_copy(update={"svg": to_svg(pm)}) if svg else read


@router.put(
    "/accounts/{account_id}/stakeholders/override",
    response_model=PoliticalMapRead,
    responses=responses(404),
)
async def put_override(
    account_id: Ref, body: OverrideBody, c: ContainerDep, tenant: TenantDep
) -> PoliticalMapRead:
    """A person's override of a stakeholder's scores, roles or relationships: it always wins
    and no later conversation reverts it."""
    acc = await resolve_account(c.uow(tenant), account_id)
    change = Override(
        scores={str(k): v for k, v in body.scores.items()},
        add_roles=tuple(body.add_roles),
        remove_roles=tuple(body.remove_roles),
        relationship=RelationshipKind(body.relationship) if body.relationship else None,
        other=body.to,
        communication_style=body.communication_style,
        note=body.note,
        by="api",
    )
    async with c.uow(tenant, writes=True) as uow:
        await set_override(uow, acc, body.who, change, now=_now())
        await uow.commit()
    async with c.uow(tenant) as uow:
        return PoliticalMapRead.of(await political_map(uow, acc))


def _plan(view: object) -> PlanRead:
    from pie.services.intel_reads import PlanView

    assert isinstance(view, PlanView)
    return PlanRead(
        kind=view.kind,
        owner_id=view.owner_id,
        version=view.version,
        markdown=view.markdown,
        data=view.data,
    )


@router.get("/deals/{deal_id}/plan", response_model=PlanRead, responses=responses(404))
async def get_deal_plan(deal_id: Ref, c: ContainerDep, tenant: TenantDep) -> PlanRead:
    """The deal's opportunity plan (JSON and Markdown)."""
    ident = await resolve_id(c.uow(tenant), EntityKind.DEAL, deal_id)
    return _plan(await plan_view(c.uow(tenant, writes=True), str(ident), now=_now(), only="deal"))


@router.get("/accounts/{account_id}/plan", response_model=PlanRead, responses=responses(404))
async def get_account_plan(account_id: Ref, c: ContainerDep, tenant: TenantDep) -> PlanRead:
    """The account plan (JSON and Markdown)."""
    ident: UUID = await resolve_account(c.uow(tenant), account_id)
    view = await plan_view(c.uow(tenant, writes=True), str(ident), now=_now(), only="account")
    return _plan(view)


@router.get("/deals/{deal_id}/explain", response_model=ExplainRead, responses=responses(404))
async def get_explain(deal_id: Ref, c: ContainerDep, tenant: TenantDep) -> ExplainRead:
    """Why the deal is in its stage, the evidence behind each move, and what the next stage
    still needs."""
    ident = await resolve_id(c.uow(tenant), EntityKind.DEAL, deal_id)
    return ExplainRead.of(await explain_deal(c.uow(tenant), ident, now=_now()))
