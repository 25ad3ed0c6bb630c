"""Deals, accounts and their details as JSON shapes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from pie.domain.model import Account, Deal
from pie.domain.summary import PipelineSummary
from pie.services.deals import AccountDetail, DealDetail, Page, StakeholderView
from pie.services.schemas.changes import FieldOrigin, provenance_read

T = TypeVar("T")


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AccountRead(_Read):
    id: UUID
    name: str
    domain: str | None
    industry: str | None
    employees: int | None
    annual_revenue: Decimal | None
    country: str | None
    owner: str | None
    external_ids: dict[str, str]
    custom_fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="Incremented by every change; name it to detect a race")


class ContactRead(_Read):
    id: UUID
    account_id: UUID | None
    name: str
    title: str | None
    email: str | None
    phone: str | None
    department: str | None
    external_ids: dict[str, str]
    version: int = Field(description="Incremented by every change; name it to detect a race")


class DealRead(_Read):
    id: UUID
    name: str
    account_id: UUID | None
    stage: str
    outcome: str
    value: Decimal | None
    currency: str
    source_stage: str | None
    probability: float | None
    expected_close: date | None
    owner: str | None
    product_line: str | None
    source: str
    lead_source: str | None
    detection_confidence: float | None
    qualification: dict[str, Any]
    custom_fields: dict[str, Any]
    external_ids: dict[str, str]
    lost_reason: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int = Field(description="Incremented by every change; name it to detect a race")

    @classmethod
    def of(cls, deal: Deal) -> DealRead:
        return cls.model_validate(deal)


class StakeholderRead(_Read):
    id: UUID
    contact: ContactRead | None
    roles: list[str]
    is_primary: bool
    sentiment: float | None
    engagement: float | None
    scores: dict[str, float]
    score_sources: dict[str, str]

    @classmethod
    def of(cls, view: StakeholderView) -> StakeholderRead:
        s = view.stakeholder
        return cls(
            id=s.id,
            contact=ContactRead.model_validate(view.contact) if view.contact else None,
            roles=[str(r) for r in s.roles],
            is_primary=s.is_primary,
            sentiment=s.sentiment,
            engagement=s.engagement,
            scores=s.scores,
            score_sources=s.score_sources,
        )


class KeyMomentRead(_Read):
    text: str
    at_seconds: float | None
    sentiment: float | None


class ObjectionRead(_Read):
    objection: str
    resolved: bool
    resolution: str | None


class ActivityRead(_Read):
    id: UUID
    type: str
    occurred_at: datetime
    participants: list[UUID]
    outcome: str
    subject: str | None
    summary: str | None
    key_moments: list[KeyMomentRead]
    next_steps: list[str]
    objections: list[ObjectionRead]
    raw_content: str | None


class StageTransitionRead(_Read):
    from_stage: str | None
    to_stage: str
    at: datetime
    days_in_from_stage: float | None
    trigger_activity_id: UUID | None
    value: Decimal | None
    expected_close: date | None
    probability: float | None


class DealDetailRead(BaseModel):
    deal: DealRead
    account: AccountRead | None
    stakeholders: list[StakeholderRead]
    activities: list[ActivityRead]
    transitions: list[StageTransitionRead]
    provenance: dict[str, FieldOrigin] = Field(
        default_factory=dict,
        description="Per field of the deal: who wrote its current value (a source name, "
        "'human' or 'pie') and when",
    )

    @classmethod
    def of(cls, detail: DealDetail) -> DealDetailRead:
        return cls(
            deal=DealRead.of(detail.deal),
            account=AccountRead.model_validate(detail.account) if detail.account else None,
            stakeholders=[StakeholderRead.of(v) for v in detail.stakeholders],
            activities=[ActivityRead.model_validate(a) for a in detail.activities],
            transitions=[StageTransitionRead.model_validate(t) for t in detail.transitions],
            provenance=provenance_read(detail.provenance),
        )


class AccountDetailRead(BaseModel):
    account: AccountRead
    contacts: list[ContactRead]
    deals: list[DealRead]

    @classmethod
    def of(cls, detail: AccountDetail) -> AccountDetailRead:
        return cls(
            account=AccountRead.model_validate(detail.account),
            contacts=[ContactRead.model_validate(c) for c in detail.contacts],
            deals=[DealRead.of(d) for d in detail.deals],
        )


class PageRead(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def deal_page(page: Page[Deal]) -> PageRead[DealRead]:
    return PageRead[DealRead](
        items=[DealRead.of(d) for d in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


def account_page(page: Page[Account]) -> PageRead[AccountRead]:
    return PageRead[AccountRead](
        items=[AccountRead.model_validate(a) for a in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


class StageCount(BaseModel):
    stage: str
    count: int
    value: Decimal


class SummaryRead(BaseModel):
    total: int
    open: int
    won: int
    lost: int
    win_rate: float | None
    median_cycle_days: float | None
    open_value: Decimal
    by_stage: list[StageCount]
    largest_open: list[DealRead]

    @classmethod
    def of(cls, s: PipelineSummary) -> SummaryRead:
        return cls(
            total=s.total,
            open=s.open,
            won=s.won,
            lost=s.lost,
            win_rate=s.win_rate,
            median_cycle_days=s.median_cycle_days,
            open_value=s.open_value,
            by_stage=[
                StageCount(stage=str(stage), count=t.count, value=t.value)
                for stage, t in s.by_stage.items()
            ],
            largest_open=[DealRead.of(d) for d in s.largest_open],
        )


class Health(BaseModel):
    status: str
    version: str
    database: str
