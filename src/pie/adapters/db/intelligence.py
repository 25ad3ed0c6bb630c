"""SQL implementation of the intelligence store (pie.ports.intelligence). Every statement
filters by the unit of work's tenant (PostgreSQL's row-level security filters again)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import ColumnElement, Table, delete, func, literal_column, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from pie.adapters.db import bulk, mapping
from pie.adapters.db.plans import account_plan_of, opportunity_plan_of
from pie.adapters.db.tables import (
    AccountPlanRow,
    AccountRow,
    ActivityRow,
    ChangeRow,
    ContactRow,
    DealRow,
    OpportunityPlanRow,
    StageTransitionRow,
    StakeholderRow,
)
from pie.adapters.db.tables_intelligence import (
    ActivityIntelRow,
    IntelligenceSettingsRow,
    PlanNarrativeRow,
    PlanVersionRow,
    StakeholderProfileRow,
    StakeholderRelationshipRow,
    TransitionEvidenceRow,
)
from pie.domain.errors import StaleVersion
from pie.domain.model import Activity, EntityKind
from pie.domain.political import (
    Relationship,
    RelationshipKind,
    ScoreRecord,
    ScoreSource,
    StakeholderProfile,
)
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

ACCOUNTS: Table = AccountRow.__table__  # type: ignore[assignment]
CONTACTS: Table = ContactRow.__table__  # type: ignore[assignment]
DEALS: Table = DealRow.__table__  # type: ignore[assignment]
CHANGES: Table = ChangeRow.__table__  # type: ignore[assignment]
STAKEHOLDERS: Table = StakeholderRow.__table__  # type: ignore[assignment]
ACTIVITIES: Table = ActivityRow.__table__  # type: ignore[assignment]
TRANSITIONS: Table = StageTransitionRow.__table__  # type: ignore[assignment]
ACCOUNT_PLANS: Table = AccountPlanRow.__table__  # type: ignore[assignment]
DEAL_PLANS: Table = OpportunityPlanRow.__table__  # type: ignore[assignment]
INTEL: Table = ActivityIntelRow.__table__  # type: ignore[assignment]
PROFILES: Table = StakeholderProfileRow.__table__  # type: ignore[assignment]
RELS: Table = StakeholderRelationshipRow.__table__  # type: ignore[assignment]
EVIDENCE: Table = TransitionEvidenceRow.__table__  # type: ignore[assignment]
NARRATIVES: Table = PlanNarrativeRow.__table__  # type: ignore[assignment]
VERSIONS: Table = PlanVersionRow.__table__  # type: ignore[assignment]
SETTINGS: Table = IntelligenceSettingsRow.__table__  # type: ignore[assignment]
_IN_CHUNK = 1000


def _now() -> datetime:
    return datetime.now(UTC)


def profile_to_json(p: StakeholderProfile) -> tuple[dict[str, Any], list[Any]]:
    return (
        {name: rec.to_json() for name, rec in p.scores.items()},
        [[name, rec.to_json()] for name, rec in p.history],
    )


def profile_from_json(
    stakeholder_id: UUID,
    scores: dict[str, Any],
    history: list[Any],
    style: str | None,
    style_evidence: str | None,
    updated_at: datetime | None,
) -> StakeholderProfile:
    return StakeholderProfile(
        stakeholder_id=stakeholder_id,
        scores={k: ScoreRecord.from_json(v) for k, v in scores.items()},
        history=tuple((str(n), ScoreRecord.from_json(r)) for n, r in history),
        communication_style=style,
        style_evidence=style_evidence,
        updated_at=updated_at,
    )


def relationship_from_row(r: Any) -> Relationship:
    return Relationship(
        id=r["id"],
        from_id=r["from_id"],
        to_id=r["to_id"],
        kind=RelationshipKind(r["kind"]),
        source=ScoreSource(r["source"]),
        evidence=r["evidence"],
        activity_id=r["activity_id"],
        at=r["at"],
    )


def _narrative(row: Any) -> Narrative:
    return Narrative(
        kind=row["kind"],
        owner_id=row["owner_id"],
        inputs_digest=row["inputs_digest"],
        writer=row["writer"],
        text=row["text"],
        created_at=row["created_at"],
    )


class SqlIntelligenceRepository:
    def __init__(
        self, session: AsyncSession, tenant_id: UUID, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self._session, self._tenant, self._clock = session, tenant_id, clock

    def _mine(self, table: Table) -> ColumnElement[bool]:
        return table.c.tenant_id == self._tenant

    async def _upsert(self, table: Table, row: dict[str, Any], key: Sequence[str]) -> None:
        conn = await self._session.connection()
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(table).values(**row)
        updates = {k: stmt.excluded[k] for k in row if k not in key}
        await self._session.execute(
            stmt.on_conflict_do_update(index_elements=list(key), set_=updates)
            if updates
            else stmt.on_conflict_do_nothing(index_elements=list(key))
        )

    async def _in(
        self, table: Table, column: str, ids: Sequence[UUID], *extra: ColumnElement[bool]
    ) -> list[Any]:
        out: list[Any] = []
        wanted = list(dict.fromkeys(ids))
        mine = self._mine(table)
        if column == "id" and (await self._session.connection()).dialect.name == "sqlite":
            # by primary key: ``+`` keeps SQLite's planner (no statistics) off the tenant index,
            # which would read every row of the tenant for each chunk
            tenant = literal_column(f"+{table.name}.tenant_id", type_=table.c.tenant_id.type)
            mine = tenant == self._tenant
        for start in range(0, len(wanted), _IN_CHUNK):
            part = wanted[start : start + _IN_CHUNK]
            rows = await self._session.execute(
                select(table).where(mine, table.c[column].in_(part), *extra)
            )
            out.extend(rows.mappings().all())
        return out

    async def lock(self, key: str) -> None:
        conn = await self._session.connection()
        if conn.dialect.name == "postgresql":
            # two 32-bit keys: the tenant and the key, both hashed by PostgreSQL
            await self._session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:tenant), hashtext(:key))"),
                {"tenant": str(self._tenant), "key": key},
            )

    async def find_accounts(self, domains: Sequence[str]) -> dict[str, UUID]:
        wanted = sorted({d.lower().removeprefix("www.") for d in domains if d})
        if not wanted:
            return {}
        domain = func.lower(ACCOUNTS.c.domain)
        rows = await self._session.execute(
            select(domain, ACCOUNTS.c.id)
            .where(
                ACCOUNTS.c.tenant_id == self._tenant,
                domain.in_(wanted + [f"www.{d}" for d in wanted]),
            )
            .order_by(ACCOUNTS.c.created_at, ACCOUNTS.c.id)
        )
        out: dict[str, UUID] = {}
        for d, ident in rows:
            out.setdefault(str(d).removeprefix("www."), ident)
        return out

    async def find_contacts(self, emails: Sequence[str]) -> dict[str, UUID]:
        wanted = sorted({e.lower() for e in emails if e})
        if not wanted:
            return {}
        email = func.lower(CONTACTS.c.email)
        rows = await self._session.execute(
            select(email, CONTACTS.c.id)
            .where(CONTACTS.c.tenant_id == self._tenant, email.in_(wanted))
            .order_by(CONTACTS.c.created_at, CONTACTS.c.id)
        )
        out: dict[str, UUID] = {}
        for e, ident in rows:
            out.setdefault(str(e), ident)
        return out

    # --- a batch's working set ---------------------------------------------------------------
    async def load(
        self,
        *,
        account_ids: Sequence[UUID] = (),
        deal_ids: Sequence[UUID] = (),
        activity_ids: Sequence[UUID] = (),
        contact_ids: Sequence[UUID] = (),
        emails: Sequence[str] = (),
    ) -> IntelScope:
        out = IntelScope()
        accounts = list(dict.fromkeys(account_ids))
        for r in await self._in(ACCOUNTS, "id", accounts):
            out.accounts[r["id"]] = mapping.account_from_row(r)
            out.provenance[r["id"]] = dict(r["provenance"] or {})
        deal_rows = await self._in(DEALS, "account_id", accounts)
        known = {r["id"] for r in deal_rows}
        deal_rows += await self._in(DEALS, "id", [d for d in deal_ids if d not in known])
        for r in deal_rows:
            out.deals[r["id"]] = mapping.deal_from_row(r)
            out.provenance[r["id"]] = dict(r["provenance"] or {})
        for r in await self._in(STAKEHOLDERS, "account_id", accounts):
            out.stakeholders[r["id"]] = mapping.stakeholder_from_row(r)
            out.provenance[r["id"]] = dict(r["provenance"] or {})
        by_email = await self.find_contacts(emails)
        contact_rows = await self._in(CONTACTS, "account_id", accounts)
        known = {r["id"] for r in contact_rows}
        holders = [s.contact_id for s in out.stakeholders.values()]
        wanted = [c for c in (*contact_ids, *by_email.values(), *holders) if c not in known]
        for r in (*contact_rows, *await self._in(CONTACTS, "id", wanted)):
            out.contacts[r["id"]] = mapping.contact_from_row(r)
            out.provenance[r["id"]] = dict(r["provenance"] or {})
        deals = list(out.deals)
        activity_rows = await self._in(ACTIVITIES, "deal_id", deals)
        known = {r["id"] for r in activity_rows}
        activity_rows += await self._in(
            ACTIVITIES, "id", [a for a in activity_ids if a not in known]
        )
        for r in activity_rows:
            out.activities[r["id"]] = mapping.activity_from_row(r)
        for r in await self._in(TRANSITIONS, "deal_id", deals):
            out.transitions.setdefault(r["deal_id"], []).append(mapping.transition_from_row(r))
        for items in out.transitions.values():
            items.sort(key=lambda t: (t.at, t.id))
        asked = set(activity_ids)
        out.intel = await self.for_activities([a for a in out.activities if a in asked])
        out.intel.update(await self._light_intel([a for a in out.activities if a not in asked]))
        holders = list(out.stakeholders)
        out.profiles = await self.profiles(holders)
        out.relationships = await self.relationships(holders)
        for r in await self._in(ACCOUNT_PLANS, "account_id", accounts):
            out.account_plans[r["account_id"]] = account_plan_of(dict(r))
        for r in await self._in(DEAL_PLANS, "deal_id", deals):
            out.deal_plans[r["deal_id"]] = opportunity_plan_of(dict(r))
        for r in await self._in(NARRATIVES, "owner_id", [*accounts, *deals]):
            out.narratives[(r["kind"], r["owner_id"])] = _narrative(r)
        return out

    async def _light_intel(self, activity_ids: Sequence[UUID]) -> dict[UUID, ActivityIntel]:
        """Of each activity's intelligence only what a batch reads of activities it does not
        process (the digest, the detection's signals and competitors, the sentiment): the
        database picks them out of the JSON, so the rest is never parsed."""
        detection = INTEL.c.extraction["detection"]
        out: dict[UUID, ActivityIntel] = {}
        for start in range(0, len(activity_ids), _IN_CHUNK):
            rows = await self._session.execute(
                select(
                    INTEL.c.activity_id,
                    INTEL.c.digest,
                    INTEL.c.extractor,
                    INTEL.c.processed_at,
                    detection["signals"],
                    detection["competitors"],
                    INTEL.c.enrichment["sentiment"],
                ).where(
                    self._mine(INTEL),
                    INTEL.c.activity_id.in_(activity_ids[start : start + _IN_CHUNK]),
                )
            )
            for ident, digest, extractor, at, signals, competitors, sentiment in rows:
                kinds = [{"kind": s["kind"]} for s in signals or () if isinstance(s, dict)]
                out[ident] = ActivityIntel(
                    activity_id=ident,
                    digest=digest,
                    extractor=extractor,
                    extraction={"detection": {"signals": kinds, "competitors": competitors or []}},
                    enrichment={"sentiment": sentiment} if sentiment is not None else {},
                    processed_at=at,
                )
        return out

    async def save_many(self, writes: IntelWrites) -> None:
        tenant, session = self._tenant, self._session
        await bulk.upsert_rows(
            session,
            INTEL,
            [
                {
                    "tenant_id": tenant,
                    "activity_id": i.activity_id,
                    "digest": i.digest,
                    "extractor": i.extractor,
                    "extraction": i.extraction,
                    "enrichment": i.enrichment,
                    "warnings": list(i.warnings),
                    "processed_at": i.processed_at,
                }
                for i in writes.activities
            ],
            key=("tenant_id", "activity_id"),
        )
        await bulk.upsert_rows(
            session,
            PROFILES,
            [self._profile_row(p) for p in writes.profiles],
            key=("tenant_id", "stakeholder_id"),
        )
        await bulk.upsert_rows(
            session, RELS, [self._relationship_row(r) for r in writes.relationships], key=("id",)
        )
        await bulk.upsert_rows(
            session,
            EVIDENCE,
            [
                {
                    "tenant_id": tenant,
                    "transition_id": e.transition_id,
                    "reason": e.reason,
                    "evidence": [dict(x) for x in e.evidence],
                }
                for e in writes.evidence
            ],
            key=("tenant_id", "transition_id"),
        )
        await bulk.upsert_rows(
            session,
            NARRATIVES,
            [self._narrative_row(n) for n in writes.narratives],
            key=("tenant_id", "kind", "owner_id"),
        )
        versions = list(writes.versions)
        for kind, table, owner in (
            ("deal", DEAL_PLANS, "deal_id"),
            ("account", ACCOUNT_PLANS, "account_id"),
        ):
            saves = [p for p in writes.plans if p.kind == kind]
            await self._save_plans(table, owner, saves)
            versions += [
                PlanVersion(
                    kind=kind,
                    owner_id=p.owner_id,
                    version=p.expected_version + 1,
                    data=p.data.model_dump(mode="json"),
                    saved_at=p.saved_at,
                )
                for p in saves
            ]
        await bulk.upsert_rows(
            session,
            VERSIONS,
            [
                {
                    "tenant_id": tenant,
                    "kind": v.kind,
                    "owner_id": v.owner_id,
                    "version": v.version,
                    "data": v.data,
                    "saved_at": v.saved_at,
                }
                for v in versions
            ],
            key=("tenant_id", "kind", "owner_id", "version"),
        )

    async def _save_plans(self, table: Table, owner: str, saves: Sequence[PlanSave]) -> None:
        """New plans inserted, stored ones updated where their version is the expected one
        (each in one statement); a plan someone else wrote meanwhile raises StaleVersion."""
        if not saves:
            return
        stored: dict[UUID, int] = {}
        owners = [p.owner_id for p in saves]
        for start in range(0, len(owners), _IN_CHUNK):
            found = await self._session.execute(
                select(table.c[owner], table.c.version).where(
                    self._mine(table), table.c[owner].in_(owners[start : start + _IN_CHUNK])
                )
            )
            stored.update((ident, version) for ident, version in found)
        for p in saves:  # (on PostgreSQL the versioned update checks again, row by row)
            if stored.get(p.owner_id, 0) != p.expected_version:
                actual = stored.get(p.owner_id, 0)
                raise StaleVersion(f"{p.kind} plan", p.owner_id, p.expected_version, actual)
        now = self._clock()
        rows = [
            {
                "id": p.plan_id or uuid4(),
                "tenant_id": self._tenant,
                owner: p.owner_id,
                "version": p.expected_version + 1,
                "data": p.data.model_dump(mode="json"),
                "updated_at": now,
            }
            for p in saves
        ]
        new = [r for r, p in zip(rows, saves, strict=True) if p.plan_id is None]
        await bulk.insert_rows(self._session, table, new)
        missed = await bulk.update_rows(
            self._session,
            table,
            [r for r, p in zip(rows, saves, strict=True) if p.plan_id is not None],
            versioned=True,
        )
        if missed:  # written by someone else after the check (PostgreSQL)
            stale = next(p for r, p in zip(rows, saves, strict=True) if r["id"] in missed)
            raise StaleVersion(
                f"{stale.kind} plan",
                stale.owner_id,
                stale.expected_version,
                stale.expected_version + 1,
            )

    async def with_content_since(self, seq: int) -> list[Activity]:
        changed = (
            select(CHANGES.c.entity_id)
            .where(
                CHANGES.c.tenant_id == self._tenant,
                CHANGES.c.entity == EntityKind.ACTIVITY.value,
                CHANGES.c.seq > seq,
            )
            .scalar_subquery()
        )
        rows = await self._session.execute(
            select(ACTIVITIES).where(
                self._mine(ACTIVITIES),
                ACTIVITIES.c.raw_content.is_not(None),
                ACTIVITIES.c.raw_content != "",
                ACTIVITIES.c.id.in_(changed),
            )
        )
        found = [mapping.activity_from_row(r) for r in rows.mappings()]
        return [a for a in found if a.raw_content and a.raw_content.strip()]

    def _profile_row(self, profile: StakeholderProfile) -> dict[str, Any]:
        scores, history = profile_to_json(profile)
        return {
            "tenant_id": self._tenant,
            "stakeholder_id": profile.stakeholder_id,
            "scores": scores,
            "history": history,
            "communication_style": profile.communication_style,
            "style_evidence": profile.style_evidence,
            "updated_at": profile.updated_at or self._clock(),
        }

    def _relationship_row(self, rel: Relationship) -> dict[str, Any]:
        return {
            "id": rel.id,
            "tenant_id": self._tenant,
            "from_id": rel.from_id,
            "to_id": rel.to_id,
            "kind": rel.kind.value,
            "source": rel.source.value,
            "evidence": rel.evidence,
            "activity_id": rel.activity_id,
            "at": rel.at,
        }

    def _narrative_row(self, narrative: Narrative) -> dict[str, Any]:
        return {
            "tenant_id": self._tenant,
            "kind": narrative.kind,
            "owner_id": narrative.owner_id,
            "inputs_digest": narrative.inputs_digest,
            "writer": narrative.writer,
            "text": narrative.text,
            "created_at": narrative.created_at,
        }

    # --- activities ---------------------------------------------------------------------------
    async def processed(self, activity_ids: Sequence[UUID]) -> dict[UUID, str]:
        out: dict[UUID, str] = {}
        wanted = list(dict.fromkeys(activity_ids))
        for start in range(0, len(wanted), _IN_CHUNK):
            rows = await self._session.execute(
                select(INTEL.c.activity_id, INTEL.c.digest).where(
                    self._mine(INTEL), INTEL.c.activity_id.in_(wanted[start : start + _IN_CHUNK])
                )
            )
            out.update((a, d) for a, d in rows)
        return out

    async def get_activity(self, activity_id: UUID) -> ActivityIntel | None:
        return (await self.for_activities([activity_id])).get(activity_id)

    async def for_activities(self, activity_ids: Sequence[UUID]) -> dict[UUID, ActivityIntel]:
        return {
            r["activity_id"]: ActivityIntel(
                activity_id=r["activity_id"],
                digest=r["digest"],
                extractor=r["extractor"],
                extraction=dict(r["extraction"]),
                enrichment=dict(r["enrichment"]),
                warnings=tuple(r["warnings"]),
                processed_at=r["processed_at"],
            )
            for r in await self._in(INTEL, "activity_id", activity_ids)
        }

    async def save_activity(self, intel: ActivityIntel) -> None:
        await self._upsert(
            INTEL,
            {
                "tenant_id": self._tenant,
                "activity_id": intel.activity_id,
                "digest": intel.digest,
                "extractor": intel.extractor,
                "extraction": intel.extraction,
                "enrichment": intel.enrichment,
                "warnings": list(intel.warnings),
                "processed_at": intel.processed_at,
            },
            ("tenant_id", "activity_id"),
        )

    # --- stakeholders -------------------------------------------------------------------------
    async def profiles(self, stakeholder_ids: Sequence[UUID]) -> dict[UUID, StakeholderProfile]:
        return {
            r["stakeholder_id"]: profile_from_json(
                r["stakeholder_id"],
                r["scores"],
                r["history"],
                r["communication_style"],
                r["style_evidence"],
                r["updated_at"],
            )
            for r in await self._in(PROFILES, "stakeholder_id", stakeholder_ids)
        }

    async def save_profile(self, profile: StakeholderProfile) -> None:
        await self._upsert(PROFILES, self._profile_row(profile), ("tenant_id", "stakeholder_id"))

    async def relationships(self, stakeholder_ids: Sequence[UUID]) -> list[Relationship]:
        ids = list(dict.fromkeys(stakeholder_ids))
        found: dict[UUID, Relationship] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            part = ids[start : start + _IN_CHUNK]
            rows = await self._session.execute(
                select(RELS).where(
                    self._mine(RELS), or_(RELS.c.from_id.in_(part), RELS.c.to_id.in_(part))
                )
            )
            for r in rows.mappings():
                found[r["id"]] = relationship_from_row(r)
        return sorted(found.values(), key=lambda r: (r.at, str(r.id)))

    async def save_relationship(self, rel: Relationship) -> Relationship:
        existing = (
            (
                await self._session.execute(
                    select(RELS.c.id).where(
                        self._mine(RELS),
                        RELS.c.from_id == rel.from_id,
                        RELS.c.to_id == rel.to_id,
                        RELS.c.kind == rel.kind.value,
                    )
                )
            )
            .scalars()
            .first()
        )
        ident = existing or rel.id
        await self._upsert(RELS, {**self._relationship_row(rel), "id": ident}, ("id",))
        return Relationship(
            id=ident,
            from_id=rel.from_id,
            to_id=rel.to_id,
            kind=rel.kind,
            source=rel.source,
            evidence=rel.evidence,
            activity_id=rel.activity_id,
            at=rel.at,
        )

    async def delete_relationship(self, rel_id: UUID) -> bool:
        result = await self._session.execute(
            delete(RELS).where(self._mine(RELS), RELS.c.id == rel_id).returning(RELS.c.id)
        )
        return result.first() is not None

    # --- progression --------------------------------------------------------------------------
    async def save_transition_evidence(self, evidence: TransitionEvidence) -> None:
        await self._upsert(
            EVIDENCE,
            {
                "tenant_id": self._tenant,
                "transition_id": evidence.transition_id,
                "reason": evidence.reason,
                "evidence": [dict(e) for e in evidence.evidence],
            },
            ("tenant_id", "transition_id"),
        )

    async def transition_evidence(
        self, transition_ids: Sequence[UUID]
    ) -> dict[UUID, TransitionEvidence]:
        return {
            r["transition_id"]: TransitionEvidence(
                transition_id=r["transition_id"],
                reason=r["reason"],
                evidence=tuple(r["evidence"]),
            )
            for r in await self._in(EVIDENCE, "transition_id", transition_ids)
        }

    async def settings(self) -> ProgressionSettings:
        doc = await self._session.scalar(select(SETTINGS.c.document).where(self._mine(SETTINGS)))
        return ProgressionSettings.from_json(doc) if doc else ProgressionSettings()

    async def save_settings(self, settings: ProgressionSettings) -> None:
        await self._upsert(
            SETTINGS,
            {
                "tenant_id": self._tenant,
                "document": settings.to_json(),
                "updated_at": self._clock(),
            },
            ("tenant_id",),
        )

    # --- plans --------------------------------------------------------------------------------
    async def narrative(self, kind: str, owner_id: UUID) -> Narrative | None:
        row = (
            (
                await self._session.execute(
                    select(NARRATIVES).where(
                        self._mine(NARRATIVES),
                        NARRATIVES.c.kind == kind,
                        NARRATIVES.c.owner_id == owner_id,
                    )
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else _narrative(row)

    async def save_narrative(self, narrative: Narrative) -> None:
        await self._upsert(
            NARRATIVES, self._narrative_row(narrative), ("tenant_id", "kind", "owner_id")
        )

    async def save_plan_version(self, version: PlanVersion) -> None:
        await self._upsert(
            VERSIONS,
            {
                "tenant_id": self._tenant,
                "kind": version.kind,
                "owner_id": version.owner_id,
                "version": version.version,
                "data": version.data,
                "saved_at": version.saved_at,
            },
            ("tenant_id", "kind", "owner_id", "version"),
        )

    async def plan_versions(self, kind: str, owner_id: UUID) -> list[PlanVersion]:
        rows = await self._session.execute(
            select(VERSIONS)
            .where(self._mine(VERSIONS), VERSIONS.c.kind == kind, VERSIONS.c.owner_id == owner_id)
            .order_by(VERSIONS.c.version)
        )
        return [
            PlanVersion(
                kind=r["kind"],
                owner_id=r["owner_id"],
                version=r["version"],
                data=dict(r["data"]),
                saved_at=r["saved_at"],
            )
            for r in rows.mappings()
        ]
