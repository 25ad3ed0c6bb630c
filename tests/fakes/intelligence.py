"""In-memory intelligence store (pie.ports.intelligence) with the SQL adapter's semantics:
one row per activity, per stakeholder profile, per (from, to, kind) relationship, per plan
narrative and per plan version. State lives in a dict the fake unit of work snapshots, so a
rollback forgets what was written."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

from pie.domain.errors import StaleVersion
from pie.domain.model import Activity, EntityKind
from pie.domain.plans import AccountPlan, OpportunityPlan
from pie.domain.political import Relationship, StakeholderProfile
from pie.domain.progression import ProgressionSettings
from pie.ports.intelligence import (
    ActivityIntel,
    IntelScope,
    IntelWrites,
    Narrative,
    PlanSave,
    PlanVersion,
    TransitionEvidence,
)


def new_state() -> dict[str, Any]:
    return {
        "activities": {},
        "profiles": {},
        "relationships": {},
        "evidence": {},
        "narratives": {},
        "versions": {},
        "settings": None,
    }


def snapshot(state: dict[str, Any]) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in state.items()}


class FakeIntelligenceRepository:
    def __init__(
        self, state: dict[str, Any], rows: dict[str, dict[UUID, Any]], tables: Any = None
    ) -> None:
        """``tables``: the fake unit of work's tables (provenance and plans, for ``load``)."""
        self._s, self._rows, self._tables = state, rows, tables

    def _exists(self, table: str, ident: UUID) -> bool:
        """The fake's stand-in for the SQL foreign keys."""
        return ident in self._rows[table]

    async def find_accounts(self, domains: Sequence[str]) -> dict[str, UUID]:
        wanted = {d.lower().removeprefix("www.") for d in domains if d}
        out: dict[str, UUID] = {}
        for a in sorted(self._rows["accounts"].values(), key=lambda a: (a.created_at, a.id)):
            d = (a.domain or "").lower().removeprefix("www.")
            if d in wanted:
                out.setdefault(d, a.id)
        return out

    async def find_contacts(self, emails: Sequence[str]) -> dict[str, UUID]:
        wanted = {e.lower() for e in emails if e}
        out: dict[str, UUID] = {}
        for c in sorted(self._rows["contacts"].values(), key=lambda c: (c.created_at, c.id)):
            e = (c.email or "").lower()
            if e in wanted:
                out.setdefault(e, c.id)
        return out

    async def load(
        self,
        *,
        account_ids: Sequence[UUID] = (),
        deal_ids: Sequence[UUID] = (),
        activity_ids: Sequence[UUID] = (),
        contact_ids: Sequence[UUID] = (),
        emails: Sequence[str] = (),
    ) -> IntelScope:
        rows, accounts = self._rows, set(account_ids)
        prov = self._tables.provenance if self._tables is not None else {}
        out = IntelScope()

        def take(table: str, keep: Any) -> dict[UUID, Any]:
            got = {k: copy.copy(v) for k, v in rows[table].items() if keep(v)}
            for k in got:
                out.provenance[k] = copy.deepcopy(prov.get((table, k), {}))
            return got

        out.accounts = take("accounts", lambda a: a.id in accounts)
        wanted_deals = set(deal_ids)
        out.deals = take("deals", lambda d: d.account_id in accounts or d.id in wanted_deals)
        out.stakeholders = take("stakeholders", lambda s: s.account_id in accounts)
        contacts = set(contact_ids) | set((await self.find_contacts(emails)).values())
        contacts |= {s.contact_id for s in out.stakeholders.values()}
        out.contacts = take("contacts", lambda c: c.account_id in accounts or c.id in contacts)
        wanted = set(activity_ids)
        out.activities = {
            k: copy.copy(a)
            for k, a in rows["activities"].items()
            if a.deal_id in out.deals or k in wanted
        }
        for t in sorted(rows["transitions"].values(), key=lambda t: (t.at, t.id)):
            if t.deal_id in out.deals:
                out.transitions.setdefault(t.deal_id, []).append(copy.copy(t))
        out.intel = await self.for_activities(list(out.activities))
        out.profiles = await self.profiles(list(out.stakeholders))
        out.relationships = await self.relationships(list(out.stakeholders))
        if self._tables is not None:
            plans = self._tables.account_plans
            out.account_plans = {a: plans[a] for a in out.accounts if a in plans}
            dplans = self._tables.opportunity_plans
            out.deal_plans = {d: dplans[d] for d in out.deals if d in dplans}
        owners = set(out.accounts) | set(out.deals)
        out.narratives = {k: n for k, n in self._s["narratives"].items() if k[1] in owners}
        return out

    async def save_many(self, writes: IntelWrites) -> None:
        for a in writes.activities:
            await self.save_activity(a)
        for profile in writes.profiles:
            await self.save_profile(profile)
        for r in writes.relationships:
            self._s["relationships"][r.id] = r
        for e in writes.evidence:
            await self.save_transition_evidence(e)
        for n in writes.narratives:
            await self.save_narrative(n)
        for v in writes.versions:
            await self.save_plan_version(v)
        for p in writes.plans:
            await self._save_plan(p)

    async def _save_plan(self, p: PlanSave) -> None:
        plans = self._tables.opportunity_plans if p.kind == "deal" else self._tables.account_plans
        old = plans.get(p.owner_id)
        actual = old.version if old else 0
        if actual != p.expected_version:
            raise StaleVersion(f"{p.kind} plan", p.owner_id, p.expected_version, actual)
        owner = self._rows["deals" if p.kind == "deal" else "accounts"].get(p.owner_id)
        if owner is None:
            raise AssertionError(f"{p.kind} {p.owner_id} is not stored")
        fields: dict[str, Any] = {
            "id": old.id if old else uuid4(),
            "tenant_id": owner.tenant_id,
            "version": actual + 1,
            "data": p.data.model_copy(deep=True),
            "updated_at": p.saved_at,
        }
        if p.kind == "deal":
            plans[p.owner_id] = OpportunityPlan(deal_id=p.owner_id, **fields)
        else:
            plans[p.owner_id] = AccountPlan(account_id=p.owner_id, **fields)
        await self.save_plan_version(
            PlanVersion(
                kind=p.kind,
                owner_id=p.owner_id,
                version=actual + 1,
                data=p.data.model_dump(mode="json"),
                saved_at=p.saved_at,
            )
        )

    async def with_content_since(self, seq: int) -> list[Activity]:
        changes = self._tables.changes if self._tables is not None else []
        ids = {c.entity_id for c in changes if c.seq > seq and c.entity is EntityKind.ACTIVITY}
        acts = self._rows["activities"]
        return [
            copy.copy(acts[i])
            for i in ids
            if i in acts and acts[i].raw_content and acts[i].raw_content.strip()
        ]

    async def lock(self, key: str) -> None:
        """The fake's unit of work is not shared between tasks: nothing to serialise."""

    async def processed(self, activity_ids: Sequence[UUID]) -> dict[UUID, str]:
        acts = self._s["activities"]
        return {a: acts[a].digest for a in activity_ids if a in acts}

    async def get_activity(self, activity_id: UUID) -> ActivityIntel | None:
        found: ActivityIntel | None = self._s["activities"].get(activity_id)
        return found

    async def for_activities(self, activity_ids: Sequence[UUID]) -> dict[UUID, ActivityIntel]:
        acts = self._s["activities"]
        return {a: acts[a] for a in activity_ids if a in acts}

    async def save_activity(self, intel: ActivityIntel) -> None:
        if not self._exists("activities", intel.activity_id):
            raise AssertionError(f"activity {intel.activity_id} is not stored")
        self._s["activities"][intel.activity_id] = copy.deepcopy(intel)

    async def profiles(self, stakeholder_ids: Sequence[UUID]) -> dict[UUID, StakeholderProfile]:
        got = self._s["profiles"]
        return {s: got[s] for s in stakeholder_ids if s in got}

    async def save_profile(self, profile: StakeholderProfile) -> None:
        if not self._exists("stakeholders", profile.stakeholder_id):
            raise AssertionError(f"stakeholder {profile.stakeholder_id} is not stored")
        self._s["profiles"][profile.stakeholder_id] = profile

    async def relationships(self, stakeholder_ids: Sequence[UUID]) -> list[Relationship]:
        ids = set(stakeholder_ids)
        found = [r for r in self._s["relationships"].values() if r.from_id in ids or r.to_id in ids]
        return sorted(found, key=lambda r: (r.at, str(r.id)))

    async def save_relationship(self, rel: Relationship) -> Relationship:
        rels = self._s["relationships"]
        same = next(
            (
                r
                for r in rels.values()
                if (r.from_id, r.to_id, r.kind) == (rel.from_id, rel.to_id, rel.kind)
            ),
            None,
        )
        stored = dataclasses.replace(rel, id=same.id) if same else rel
        rels[stored.id] = stored
        return stored

    async def delete_relationship(self, rel_id: UUID) -> bool:
        return self._s["relationships"].pop(rel_id, None) is not None

    async def save_transition_evidence(self, evidence: TransitionEvidence) -> None:
        self._s["evidence"][evidence.transition_id] = copy.deepcopy(evidence)

    async def transition_evidence(
        self, transition_ids: Sequence[UUID]
    ) -> dict[UUID, TransitionEvidence]:
        ev = self._s["evidence"]
        return {t: ev[t] for t in transition_ids if t in ev}

    async def settings(self) -> ProgressionSettings:
        return self._s["settings"] or ProgressionSettings()

    async def save_settings(self, settings: ProgressionSettings) -> None:
        self._s["settings"] = settings

    async def narrative(self, kind: str, owner_id: UUID) -> Narrative | None:
        found: Narrative | None = self._s["narratives"].get((kind, owner_id))
        return found

    async def save_narrative(self, narrative: Narrative) -> None:
        self._s["narratives"][(narrative.kind, narrative.owner_id)] = narrative

    async def save_plan_version(self, version: PlanVersion) -> None:
        key = (version.kind, version.owner_id, version.version)
        self._s["versions"][key] = copy.deepcopy(version)

    async def plan_versions(self, kind: str, owner_id: UUID) -> list[PlanVersion]:
        return sorted(
            (v for (k, o, _), v in self._s["versions"].items() if (k, o) == (kind, owner_id)),
            key=lambda v: v.version,
        )
