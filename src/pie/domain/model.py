"""The unified model: one shape for every source's accounts, contacts, deals and activities.

Entities are plain dataclasses (no ORM, no I/O). Every entity belongs to one tenant. A record's
source ids live in the store's external refs (``ExternalRef``); ``external_ids`` ({source:
external id}) is filled from there when a record is read and ignored when one is written.

Accounts, contacts, deals and stakeholders carry a ``version`` the store increments on every
change (0: not stored yet); see ``pie.domain.ownership`` for who may change which field.

Money is ``Decimal`` in ``currency`` units. Timestamps are timezone-aware UTC datetimes.
Probabilities and confidences are floats in [0, 1]; sentiment is in [-1, 1].
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any
from uuid import UUID, SafeUUID

from pie.domain.stages import Stage

#: Namespace for ids PIE derives from natural keys, so re-imports land on the same record.
PIE_NAMESPACE = UUID("5f1e3c0a-8f7e-4b5a-9c2d-2b7a0f9e6d41")

JsonDict = dict[str, Any]


class EntityKind(StrEnum):
    ACCOUNT = "account"
    CONTACT = "contact"
    STAKEHOLDER = "stakeholder"
    DEAL = "deal"
    ACTIVITY = "activity"
    STAGE_TRANSITION = "stage_transition"


class StakeholderRole(StrEnum):
    # seed 004
    CHAMPION = "champion"
    BLOCKER = "blocker"
    ECONOMIC_BUYER = "economic_buyer"
    TECHNICAL_BUYER = "technical_buyer"
    INFLUENCER = "influencer"
    END_USER = "end_user"
    LEGAL = "legal"
    PROCUREMENT = "procurement"
    # seed 000
    DECISION_MAKER = "decision_maker"
    GATEKEEPER = "gatekeeper"
    USER = "user"


class ActivityType(StrEnum):
    EMAIL = "email"
    CALL = "call"
    MEETING = "meeting"
    DEMO = "demo"
    PROPOSAL = "proposal"
    CONTRACT = "contract"
    OBJECTION = "objection"
    FOLLOW_UP = "follow_up"
    INTERNAL = "internal"


class ActivityOutcome(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"
    UNKNOWN = "unknown"


class DealOutcome(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


def derive_id(tenant_id: UUID, kind: EntityKind | str, *key: object) -> UUID:
    """A stable id for a record identified by a natural key within a tenant: the name-based
    UUID (version 5) ``uuid.uuid5(PIE_NAMESPACE, "tenant|kind|key...")``, made without
    ``uuid5``'s checks (an import derives one per record), from the hash of the name's
    "tenant|kind|" start kept per tenant and kind."""
    if key:
        hashed = _name_start(tenant_id, kind).copy()
        hashed.update("|".join(map(str, key)).encode())
    else:  # "tenant|kind"
        hashed = hashlib.sha1(_NAMESPACE_BYTES + f"{tenant_id}|{kind}".encode())
    value = (int.from_bytes(hashed.digest()[:16]) & _UUID5_CLEAR) | _UUID5_SET
    made = _new_uuid(UUID)
    _set_slot(made, "int", value)
    _set_slot(made, "is_safe", SafeUUID.unknown)
    return made


_NAMESPACE_BYTES = PIE_NAMESPACE.bytes


@lru_cache(maxsize=256)
def _name_start(tenant_id: UUID, kind: EntityKind | str) -> Any:
    return hashlib.sha1(_NAMESPACE_BYTES + f"{tenant_id}|{kind}|".encode())


_UUID5_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # version and variant bits
_UUID5_SET = (5 << 76) | (0x8000 << 48)  # version 5, RFC 4122 variant
_new_uuid, _set_slot = object.__new__, object.__setattr__


@dataclass(slots=True, kw_only=True)
class Tenant:
    id: UUID
    name: str
    created_at: datetime


@dataclass(slots=True, kw_only=True)
class Account:
    id: UUID
    tenant_id: UUID
    name: str
    domain: str | None = None
    industry: str | None = None
    employees: int | None = None  # company size
    annual_revenue: Decimal | None = None
    country: str | None = None
    owner: str | None = None
    external_ids: dict[str, str] = field(default_factory=dict)
    custom_fields: JsonDict = field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    version: int = 0


@dataclass(slots=True, kw_only=True)
class Contact:
    id: UUID
    tenant_id: UUID
    account_id: UUID | None
    name: str
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    department: str | None = None
    external_ids: dict[str, str] = field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    version: int = 0


@dataclass(slots=True, kw_only=True)
class Stakeholder:
    """A contact's place on an account's (deal_id None) or a deal's political map.

    ``scores`` holds political scores (0-10) by name and ``score_sources`` where each came from
    (heuristic, conversation_signal, human_override); both are filled by later features.
    ``created_at`` is when the contact became known in these roles: process mining treats a
    champion or blocker as present only from then on.
    """

    id: UUID
    tenant_id: UUID
    account_id: UUID | None
    deal_id: UUID | None
    contact_id: UUID
    roles: tuple[StakeholderRole, ...] = ()
    is_primary: bool = False
    sentiment: float | None = None  # -1 .. 1
    engagement: float | None = None  # 0 .. 1
    scores: dict[str, float] = field(default_factory=dict)
    score_sources: dict[str, str] = field(default_factory=dict)
    notes: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int = 0


@dataclass(slots=True, kw_only=True)
class Deal:
    """HubSpot's deal, Salesforce's opportunity, Pipedrive's deal: one name, ``Deal``."""

    id: UUID
    tenant_id: UUID
    name: str
    account_id: UUID | None
    stage: Stage
    value: Decimal | None = None
    currency: str = "USD"
    source_stage: str | None = None  # the stage's name in the source, before mapping
    probability: float | None = None
    expected_close: date | None = None
    owner: str | None = None
    product_line: str | None = None
    source: str = "manual"  # where the deal came from: a source name, "manual", "agent"
    lead_source: str | None = None  # the source's own lead source (web, referral, ...)
    detection_confidence: float | None = None
    qualification: JsonDict = field(default_factory=dict)  # BANT/MEDDIC snapshot
    custom_fields: JsonDict = field(default_factory=dict)
    external_ids: dict[str, str] = field(default_factory=dict)
    lost_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    version: int = 0

    @property
    def outcome(self) -> DealOutcome:
        if self.stage is Stage.CLOSED_WON:
            return DealOutcome.WON
        if self.stage is Stage.CLOSED_LOST:
            return DealOutcome.LOST
        return DealOutcome.OPEN

    @property
    def is_open(self) -> bool:
        return self.outcome is DealOutcome.OPEN


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyMoment:
    text: str
    at_seconds: float | None = None  # offset into a call or meeting
    sentiment: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Objection:
    objection: str
    resolved: bool = False
    resolution: str | None = None
    resolved_at: datetime | None = None  # when it was resolved, if the source knows


@dataclass(slots=True, kw_only=True)
class Activity:
    id: UUID
    tenant_id: UUID
    deal_id: UUID | None
    account_id: UUID | None
    type: ActivityType
    occurred_at: datetime
    participants: tuple[UUID, ...] = ()  # contact ids
    outcome: ActivityOutcome = ActivityOutcome.UNKNOWN
    subject: str | None = None
    summary: str | None = None
    key_moments: tuple[KeyMoment, ...] = ()
    next_steps: tuple[str, ...] = ()
    objections: tuple[Objection, ...] = ()
    raw_content: str | None = None  # transcript or email body
    external_ids: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class StageTransition:
    """One stage change of a deal, with the deal's value, expected close and probability as of
    that change (as Salesforce's OpportunityHistory records them), so a deal's state at any past
    date can be rebuilt. ``from_stage`` is None for the entry into the first stage."""

    id: UUID
    tenant_id: UUID
    deal_id: UUID
    from_stage: Stage | None
    to_stage: Stage
    at: datetime
    days_in_from_stage: float | None = None
    trigger_activity_id: UUID | None = None
    value: Decimal | None = None
    expected_close: date | None = None
    probability: float | None = None


#: The digest of the ref of an external id that a source merged into another record.
MERGED = "merged"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalRef:
    """(tenant, entity kind, source, external id) -> the PIE record; unique. ``digest`` is a
    hash of the source's record as it was last stored (imports skip a record whose digest has
    not changed); None when the writer keeps none; ``MERGED`` for an id the source merged
    into the record (the record's ``external_ids`` show its own id, not that one)."""

    tenant_id: UUID
    kind: EntityKind
    source: str
    external_id: str
    entity_id: UUID
    digest: str | None = None
