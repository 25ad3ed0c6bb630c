"""The working set of one batch of conversations: every record the pipeline reads for them,
loaded in a few queries (``uow.intel.load``), changed in memory conversation after
conversation, and written at the end in bulk (``flush``), in the caller's unit of work.

Reading a batch's records at once, instead of a few dozen small queries per conversation, is
what makes a history of 10,000 calls a matter of minutes (docs/intelligence-workflow.md,
"Speed"). The semantics stay those of one conversation at a time:

* every change goes through the same ownership rule the store applies
  (``pie.domain.ownership.merge`` with the record's provenance and the tenant's policy), so a
  later conversation of the batch reads what the store will hold, and a value a person or a
  CRM owns is kept (and reported) as it would be one conversation at a time;
* ``flush`` writes each changed record once, with the fields that changed, through the
  ownership-aware repositories (origin ``pie``): the change feed gets one change per record
  per batch, and a record nothing changed is not written at all;
* the intelligence rows (extractions, profiles, relationships, evidence, narratives, plan
  versions) are written with ``uow.intel.save_many``; only those that differ from what was
  loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from pie.domain import ownership
from pie.domain.intelligence import Qualification
from pie.domain.model import (
    Account,
    Activity,
    Contact,
    Deal,
    EntityKind,
    StageTransition,
    Stakeholder,
)
from pie.domain.ownership import PIE, Kept, OwnershipPolicy
from pie.domain.plans import AccountPlan, AccountPlanData, OpportunityPlan, OpportunityPlanData
from pie.domain.political import Relationship, RelationshipKind, StakeholderProfile
from pie.domain.progression import ProgressionSettings
from pie.domain.qualification import read_qualification
from pie.ports.intelligence import (
    ActivityIntel,
    IntelScope,
    IntelWrites,
    Narrative,
    PlanSave,
    TransitionEvidence,
)
from pie.ports.uow import UnitOfWork

_PASSIVE = frozenset({"updated_at"})
Record = Account | Contact | Deal | Stakeholder | Activity


@dataclass(slots=True)
class _Pending:
    """What the batch will write: records created, and per changed record the fields."""

    created: dict[EntityKind, dict[UUID, None]] = field(default_factory=dict)
    changed: dict[EntityKind, dict[UUID, set[str]]] = field(default_factory=dict)
    transitions: list[StageTransition] = field(default_factory=list)
    intel: dict[UUID, ActivityIntel] = field(default_factory=dict)
    profiles: dict[UUID, StakeholderProfile] = field(default_factory=dict)
    relationships: dict[UUID, Relationship] = field(default_factory=dict)
    evidence: dict[UUID, TransitionEvidence] = field(default_factory=dict)
    narratives: dict[tuple[str, UUID], Narrative] = field(default_factory=dict)
    deal_plans: dict[UUID, tuple[OpportunityPlan | None, OpportunityPlanData]] = field(
        default_factory=dict
    )
    account_plans: dict[UUID, tuple[AccountPlan | None, AccountPlanData]] = field(
        default_factory=dict
    )


class Batch:
    """``batch = await Batch.open(uow, now=..., account_ids=..., ...)``; read and change the
    records through it; ``await batch.flush()``; then the caller commits ``uow``."""

    def __init__(
        self,
        uow: UnitOfWork,
        scope: IntelScope,
        *,
        policy: OwnershipPolicy,
        settings: ProgressionSettings,
        now: datetime,
    ) -> None:
        self.uow, self.tenant_id = uow, uow.tenant_id
        self.policy, self.settings, self.now = policy, settings, now
        self.accounts = scope.accounts
        self.deals = scope.deals
        self.contacts = scope.contacts
        self.stakeholders = scope.stakeholders
        self.activities = scope.activities
        self.transitions = scope.transitions
        self.provenance = scope.provenance
        self.intel = scope.intel
        self.profiles = scope.profiles
        self.relationships: dict[tuple[UUID, UUID, RelationshipKind], Relationship] = {
            (r.from_id, r.to_id, r.kind): r for r in scope.relationships
        }
        self.account_plans = scope.account_plans
        self.deal_plans = scope.deal_plans
        self.narratives = scope.narratives
        self._tables: dict[EntityKind, dict[UUID, Any]] = {
            EntityKind.ACCOUNT: self.accounts,
            EntityKind.CONTACT: self.contacts,
            EntityKind.DEAL: self.deals,
            EntityKind.STAKEHOLDER: self.stakeholders,
            EntityKind.ACTIVITY: self.activities,
        }
        self._by_deal: dict[UUID, dict[UUID, None]] = {}
        for a in self.activities.values():
            if a.deal_id is not None:
                self._by_deal.setdefault(a.deal_id, {})[a.id] = None
        self._by_account: dict[EntityKind, dict[UUID, dict[UUID, None]]] = {}
        self._signals: dict[UUID, frozenset[str]] = {}
        self._qualifications: dict[int, tuple[Any, Qualification]] = {}
        self._stamp = now.isoformat()
        self.pending = _Pending()

    @classmethod
    async def open(
        cls,
        uow: UnitOfWork,
        *,
        now: datetime,
        account_ids: Sequence[UUID] = (),
        deal_ids: Sequence[UUID] = (),
        activity_ids: Sequence[UUID] = (),
        contact_ids: Sequence[UUID] = (),
        emails: Sequence[str] = (),
    ) -> Batch:
        scope = await uow.intel.load(
            account_ids=account_ids,
            deal_ids=deal_ids,
            activity_ids=activity_ids,
            contact_ids=contact_ids,
            emails=emails,
        )
        return cls(
            uow,
            scope,
            policy=await uow.policy.get(),
            settings=await uow.intel.settings(),
            now=now,
        )

    # --- reads ------------------------------------------------------------------------------
    def deal_activities(self, deal_id: UUID) -> list[Activity]:
        """The deal's activities, oldest first."""
        found = [self.activities[a] for a in self._by_deal.get(deal_id, {})]
        found.sort(key=lambda a: (a.occurred_at, a.id))
        return found

    def account_contacts(self, account_id: UUID) -> list[Contact]:
        found = [self.contacts[c] for c in self._of_account(EntityKind.CONTACT, account_id)]
        return sorted(found, key=lambda c: (c.name, c.id))

    def account_stakeholders(self, account_id: UUID) -> list[Stakeholder]:
        found = [self.stakeholders[s] for s in self._of_account(EntityKind.STAKEHOLDER, account_id)]
        return sorted(found, key=lambda s: s.id)

    def _of_account(self, kind: EntityKind, account_id: UUID) -> list[UUID]:
        index = self._by_account.get(kind)
        if index is None:  # built once, kept current by add and update
            index = self._by_account[kind] = {}
            for item in self._tables[kind].values():
                if item.account_id is not None:
                    index.setdefault(item.account_id, {})[item.id] = None
        return list(index.get(account_id, ()))

    def account_deals(self, account_id: UUID) -> list[Deal]:
        """Newest first, as ``uow.deals.list`` orders them."""
        found = [self.deals[d] for d in self._of_account(EntityKind.DEAL, account_id)]
        found.sort(key=lambda d: d.id)
        found.sort(key=lambda d: d.created_at, reverse=True)
        return found

    def signals(self, activity_id: UUID) -> frozenset[str]:
        """The opportunity signals the activity's processed version showed."""
        got = self._signals.get(activity_id)
        if got is None:
            item = self.intel.get(activity_id)
            kinds: set[str] = set()
            if item is not None:
                for s in (item.extraction.get("detection") or {}).get("signals") or ():
                    if isinstance(s, dict) and s.get("kind"):
                        kinds.add(str(s["kind"]))
            got = self._signals[activity_id] = frozenset(kinds)
        return got

    def qualification(self, deal: Deal) -> Qualification:
        """The deal's typed qualification, read once per stored value."""
        raw = deal.qualification
        got = self._qualifications.get(id(raw))
        if got is None or got[0] is not raw:
            got = self._qualifications[id(raw)] = (raw, read_qualification(raw))
        return got[1]

    def known_qualification(self, raw: dict[str, Any], q: Qualification) -> None:
        """``raw`` is what ``write_qualification(q)`` gave: no need to read it again."""
        self._qualifications[id(raw)] = (raw, q)

    def stage_owner(self, deal: Deal) -> tuple[str | None, bool]:
        """Who set the deal's stage, and whether PIE may change it."""
        prov = self.provenance.get(deal.id, {})
        owner = prov["stage"][0] if prov.get("stage") else None
        if owner is None or owner == PIE:
            return owner, True
        return owner, self.policy.may_replace(EntityKind.DEAL, "stage", PIE, owner)

    # --- record writes ----------------------------------------------------------------------
    def add(self, kind: EntityKind, item: Record) -> None:
        """A new record (its id is not stored)."""
        self._tables[kind][item.id] = item
        self.pending.created.setdefault(kind, {})[item.id] = None
        self._reindex(kind, None, item)
        if isinstance(item, Activity) and item.deal_id is not None:
            self._by_deal.setdefault(item.deal_id, {})[item.id] = None

    def is_new(self, kind: EntityKind, ident: UUID) -> bool:
        return ident in self.pending.created.get(kind, {})

    def update(self, kind: EntityKind, item: Record, fields: Iterable[str]) -> tuple[Kept, ...]:
        """Write ``fields`` of ``item`` over the record as origin ``pie``, by the ownership
        rules (a field a person or a CRM owns is kept and reported). Returns the refusals."""
        table = self._tables[kind]
        old = table[item.id]
        carried = [f for f in fields if f not in _PASSIVE]
        new_values = {f: getattr(item, f) for f in carried}
        if self.is_new(kind, item.id):
            merged_values = {f: v for f, v in new_values.items() if v != getattr(old, f)}
            kept: tuple[Kept, ...] = ()
        else:
            m = ownership.merge(
                entity=kind,
                entity_id=item.id,
                stored={f: getattr(old, f) for f in carried},
                provenance=self.provenance.get(item.id, {}),
                incoming=new_values,
                carried=carried,
                origin=PIE,
                at=self._stamp,
                policy=self.policy,
            )
            merged_values = {f: m.values[f] for f in m.changed}
            kept = m.kept
            if m.changed and kind is not EntityKind.ACTIVITY:
                self.provenance[item.id] = m.provenance
        if not merged_values:
            return kept
        passive = {f: getattr(item, f) for f in fields if f in _PASSIVE}
        new = replace(old, **merged_values, **passive)
        table[item.id] = new
        self._reindex(kind, old, new)
        if isinstance(new, Activity) and new.deal_id != old.deal_id:
            if old.deal_id is not None:
                self._by_deal.get(old.deal_id, {}).pop(new.id, None)
            if new.deal_id is not None:
                self._by_deal.setdefault(new.deal_id, {})[new.id] = None
        if not self.is_new(kind, item.id):
            self.pending.changed.setdefault(kind, {}).setdefault(item.id, set()).update(
                {*merged_values, *passive}
            )
        return kept

    def _reindex(self, kind: EntityKind, old: Record | None, new: Record) -> None:
        index = self._by_account.get(kind)  # only kinds that belong to an account have one
        was = getattr(old, "account_id", None)
        now = getattr(new, "account_id", None)
        if index is None or (old is not None and was == now):
            return
        if old is not None and was is not None:
            index.get(was, {}).pop(old.id, None)
        if now is not None:
            index.setdefault(now, {})[new.id] = None

    def add_transition(self, tr: StageTransition) -> None:
        self.transitions.setdefault(tr.deal_id, []).append(tr)
        self.pending.transitions.append(tr)

    # --- intelligence rows --------------------------------------------------------------------
    def save_intel(self, intel: ActivityIntel) -> None:
        self.intel[intel.activity_id] = intel
        self._signals.pop(intel.activity_id, None)
        self.pending.intel[intel.activity_id] = intel

    def save_profile(self, profile: StakeholderProfile) -> None:
        self.profiles[profile.stakeholder_id] = profile
        self.pending.profiles[profile.stakeholder_id] = profile

    def save_relationship(self, rel: Relationship) -> Relationship:
        """Insert, or replace the one with the same (from, to, kind), keeping its id."""
        key = (rel.from_id, rel.to_id, rel.kind)
        old = self.relationships.get(key)
        stored = replace(rel, id=old.id) if old is not None else rel
        if old is not None and old == stored:
            return old
        self.relationships[key] = stored
        self.pending.relationships[stored.id] = stored
        return stored

    def save_evidence(self, evidence: TransitionEvidence) -> None:
        self.pending.evidence[evidence.transition_id] = evidence

    def save_narrative(self, narrative: Narrative) -> None:
        self.narratives[(narrative.kind, narrative.owner_id)] = narrative
        self.pending.narratives[(narrative.kind, narrative.owner_id)] = narrative

    def save_deal_plan(self, deal_id: UUID, data: OpportunityPlanData) -> None:
        """The deal's plan, as the next version of the one loaded."""
        self.pending.deal_plans[deal_id] = (self.deal_plans.get(deal_id), data)

    def save_account_plan(self, account_id: UUID, data: AccountPlanData) -> None:
        """The account's plan, as the next version of the one loaded."""
        self.pending.account_plans[account_id] = (self.account_plans.get(account_id), data)

    # --- the end -----------------------------------------------------------------------------
    async def flush(self) -> None:
        """Write everything the batch changed, in the order the foreign keys need."""
        uow, p = self.uow, self.pending
        repos: tuple[tuple[EntityKind, Any], ...] = (
            (EntityKind.ACCOUNT, uow.accounts),
            (EntityKind.CONTACT, uow.contacts),
            (EntityKind.DEAL, uow.deals),
            (EntityKind.STAKEHOLDER, uow.stakeholders),
            (EntityKind.ACTIVITY, uow.activities),
        )
        for kind, repo in repos:
            table = self._tables[kind]
            items: list[Record] = []
            fields: list[frozenset[str] | None] = []
            for ident in p.created.get(kind, {}):
                items.append(table[ident])
                fields.append(None)
            for ident, names in p.changed.get(kind, {}).items():
                items.append(table[ident])
                fields.append(frozenset(names))
            if items:
                await repo.upsert_many(items, origin=PIE, fields=fields)
        if p.transitions:
            await uow.transitions.upsert_many(p.transitions, origin=PIE)
        plans = [
            PlanSave(
                kind=kind,
                owner_id=owner_id,
                data=data,
                expected_version=current.version if current else 0,
                plan_id=current.id if current else None,
                saved_at=self.now,
            )
            for kind, pending in (("deal", p.deal_plans), ("account", p.account_plans))
            for owner_id, (current, data) in pending.items()
        ]
        await uow.intel.save_many(
            IntelWrites(
                activities=list(p.intel.values()),
                profiles=list(p.profiles.values()),
                relationships=list(p.relationships.values()),
                evidence=list(p.evidence.values()),
                narratives=list(p.narratives.values()),
                plans=plans,
            )
        )
        self.pending = _Pending()
