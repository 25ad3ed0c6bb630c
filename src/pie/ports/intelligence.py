"""The store of deal intelligence (``uow.intel``): what was extracted from each activity
version, stakeholders' profiles and relationships, why PIE moved a deal, cached plan narratives,
every saved plan version and the tenant's progression settings. Bound to one tenant by its unit
of work; never commits.

A deal's qualification and a stakeholder's roles and flat scores are not here: they are fields
of the records, written through the ownership-aware repositories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pie.domain.model import Account, Activity, Contact, Deal, StageTransition, Stakeholder
from pie.domain.plans import AccountPlan, AccountPlanData, OpportunityPlan, OpportunityPlanData
from pie.domain.political import Relationship, StakeholderProfile
from pie.domain.progression import ProgressionSettings

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityIntel:
    """The result of running the pipeline on one version (``digest``) of an activity."""

    activity_id: UUID
    digest: str
    extractor: str
    extraction: JsonDict
    enrichment: JsonDict
    processed_at: datetime
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitionEvidence:
    transition_id: UUID
    reason: str
    evidence: tuple[JsonDict, ...] = ()  # {"field", "quote", "activity_id", "start", "end"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Narrative:
    kind: str  # "account" | "deal"
    owner_id: UUID
    inputs_digest: str
    writer: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanVersion:
    kind: str
    owner_id: UUID
    version: int
    data: JsonDict = field(default_factory=dict)
    saved_at: datetime


@dataclass(slots=True, kw_only=True)
class IntelScope:
    """What the pipeline reads for a batch of conversations, read at once (``load``): the
    accounts asked for with all their deals, contacts and stakeholders; the deals asked for;
    every activity of those deals plus the activities asked for; the deals' stage transitions
    (oldest first); the contacts asked for by id or email and those of the stakeholders; the
    intelligence rows of all of these (profiles, relationships, plans and their narratives,
    and the activities' extractions: whole for the activities asked for, of the others only
    the digest, the detection's signals (their kinds) and competitors and the enrichment's
    sentiment, all a batch reads of them). ``provenance``:
    per record id (accounts, contacts, deals, stakeholders), each field's ``[origin, when]``.
    Records' ``external_ids`` are not filled."""

    accounts: dict[UUID, Account] = field(default_factory=dict)
    deals: dict[UUID, Deal] = field(default_factory=dict)
    contacts: dict[UUID, Contact] = field(default_factory=dict)
    stakeholders: dict[UUID, Stakeholder] = field(default_factory=dict)
    activities: dict[UUID, Activity] = field(default_factory=dict)
    transitions: dict[UUID, list[StageTransition]] = field(default_factory=dict)
    provenance: dict[UUID, dict[str, list[str]]] = field(default_factory=dict)
    intel: dict[UUID, ActivityIntel] = field(default_factory=dict)
    profiles: dict[UUID, StakeholderProfile] = field(default_factory=dict)
    relationships: list[Relationship] = field(default_factory=list)
    account_plans: dict[UUID, AccountPlan] = field(default_factory=dict)
    deal_plans: dict[UUID, OpportunityPlan] = field(default_factory=dict)
    narratives: dict[tuple[str, UUID], Narrative] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSave:
    """A plan a batch saves: version ``expected_version + 1`` of the ``kind`` ("deal" or
    "account") plan of ``owner_id``; ``plan_id`` is the stored plan's id (None: a new plan)."""

    kind: str
    owner_id: UUID
    data: OpportunityPlanData | AccountPlanData
    expected_version: int
    plan_id: UUID | None = None
    saved_at: datetime


@dataclass(slots=True, kw_only=True)
class IntelWrites:
    """Intelligence rows a batch writes at once (``save_many``), each kind as its own
    ``save_*`` would."""

    activities: list[ActivityIntel] = field(default_factory=list)
    profiles: list[StakeholderProfile] = field(default_factory=list)
    relationships: list[Relationship] = field(default_factory=list)  # ids as stored
    evidence: list[TransitionEvidence] = field(default_factory=list)
    narratives: list[Narrative] = field(default_factory=list)
    versions: list[PlanVersion] = field(default_factory=list)
    #: plans, each with its PlanVersion; a stored version other than the expected one raises
    #: StaleVersion (someone else wrote the plan meanwhile)
    plans: list[PlanSave] = field(default_factory=list)


class IntelligenceRepository(Protocol):
    async def lock(self, key: str) -> None:
        """Hold a lock on ``key`` until the transaction ends, so writers of one key (a tenant's
        account) run one after the other: ``pg_advisory_xact_lock`` on PostgreSQL; on SQLite the
        unit of work must be made with ``writes=True``, whose transaction holds the store's one
        writer lock from its start."""
        ...

    async def find_accounts(self, domains: Sequence[str]) -> dict[str, UUID]:
        """Lower-cased email domain -> the account with that domain (``www.`` ignored)."""
        ...

    async def find_contacts(self, emails: Sequence[str]) -> dict[str, UUID]:
        """Lower-cased email -> the contact with that email."""
        ...

    async def load(
        self,
        *,
        account_ids: Sequence[UUID] = (),
        deal_ids: Sequence[UUID] = (),
        activity_ids: Sequence[UUID] = (),
        contact_ids: Sequence[UUID] = (),
        emails: Sequence[str] = (),
    ) -> IntelScope:
        """Everything a batch of conversations of these accounts and deals reads, in a few
        queries (see ``IntelScope``)."""
        ...

    async def save_many(self, writes: IntelWrites) -> None:
        """Write a batch of intelligence rows in a few statements."""
        ...

    async def with_content_since(self, seq: int) -> list[Activity]:
        """The activities with content (a body or transcript) created or changed by the
        changes after ``seq`` in the tenant's change feed (what an import brought), in one
        query."""
        ...

    # --- activity extractions ---------------------------------------------------------------
    async def processed(self, activity_ids: Sequence[UUID]) -> dict[UUID, str]:
        """activity id -> the digest of the version last processed (unprocessed: absent)."""
        ...

    async def get_activity(self, activity_id: UUID) -> ActivityIntel | None: ...

    async def for_activities(self, activity_ids: Sequence[UUID]) -> dict[UUID, ActivityIntel]: ...

    async def save_activity(self, intel: ActivityIntel) -> None:
        """Insert or replace the activity's intelligence (one row per activity)."""
        ...

    # --- stakeholders -------------------------------------------------------------------------
    async def profiles(self, stakeholder_ids: Sequence[UUID]) -> dict[UUID, StakeholderProfile]: ...

    async def save_profile(self, profile: StakeholderProfile) -> None: ...

    async def relationships(self, stakeholder_ids: Sequence[UUID]) -> list[Relationship]:
        """Relationships with either end among ``stakeholder_ids``, oldest first."""
        ...

    async def save_relationship(self, rel: Relationship) -> Relationship:
        """Insert, or replace the one with the same (from, to, kind); returns what is stored
        (the existing id is kept)."""
        ...

    async def delete_relationship(self, rel_id: UUID) -> bool: ...

    # --- stage progression ------------------------------------------------------------------
    async def save_transition_evidence(self, evidence: TransitionEvidence) -> None: ...

    async def transition_evidence(
        self, transition_ids: Sequence[UUID]
    ) -> dict[UUID, TransitionEvidence]: ...

    async def settings(self) -> ProgressionSettings:
        """The tenant's settings (the defaults when none were saved)."""
        ...

    async def save_settings(self, settings: ProgressionSettings) -> None: ...

    # --- plans ----------------------------------------------------------------------------------
    async def narrative(self, kind: str, owner_id: UUID) -> Narrative | None: ...

    async def save_narrative(self, narrative: Narrative) -> None: ...

    async def save_plan_version(self, version: PlanVersion) -> None:
        """Keep a saved plan version (idempotent per kind, owner and version)."""
        ...

    async def plan_versions(self, kind: str, owner_id: UUID) -> list[PlanVersion]:
        """Oldest first."""
        ...
