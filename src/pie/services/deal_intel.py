"""The opportunity handler: applies one conversation's extraction to the records of its batch
(seed 000, pattern 2 and the post-conversation hook; ``pie.services.intel_batch``).

Detection never writes; this handler does, into the batch the caller opened in its unit of
work while holding the lock of each account the batch touches (``uow.intel.lock``), so that
concurrent conversations of one account are applied one after the other and never create the
same deal twice. In order:

1. the deal: the one given, else ``decide`` over the account's open deals (create at 0.80,
   update at 0.70, prefer updating), read under the lock;
2. contacts and account stakeholders for the buyer-side people (new ones from participants);
3. the activity: linked to account, deal and contacts, with its enrichment (summary, key
   moments, objections, next steps, outcome);
4. the deal's typed qualification, merged (a person's value is never overwritten);
5. political scores of the stakeholders (``pie.domain.political`` rules);
6. the activity's extraction, marked with the digest of the version processed;
7. stage progression (``pie.domain.progression``).

Plans are updated once per batch, after its conversations (``update_plans``). Every change to
a deal, contact or stakeholder follows the ownership rules with origin ``pie`` (the batch
applies them as the store does, then writes through the ownership-aware repositories): what a
CRM or a person wrote is kept and reported, never overwritten.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from pie.domain.errors import DealNotFound
from pie.domain.intelligence import (
    Conversation,
    Decision,
    DecisionAction,
    Extraction,
    InferredStakeholder,
    Participant,
    Side,
    Thresholds,
    decide,
    merge_qualification,
)
from pie.domain.model import (
    Account,
    Activity,
    ActivityOutcome,
    Contact,
    Deal,
    EntityKind,
    KeyMoment,
    Objection,
    StageTransition,
    Stakeholder,
    derive_id,
)
from pie.domain.ownership import HUMAN, PIE, Kept
from pie.domain.political import (
    ENGAGEMENT,
    SENTIMENT,
    STANCES,
    Relationship,
    RelationshipKind,
    ScoreRecord,
    ScoreSource,
    StakeholderProfile,
    StanceHint,
    guess_from_title,
    heuristic_scores,
    merge_roles,
    propose,
    resolve_stance,
)
from pie.domain.progression import evidence_of, propose_stage
from pie.domain.qualification import filled, write_qualification
from pie.domain.stages import DEFAULT_PROBABILITY, Stage
from pie.ports.intelligence import ActivityIntel, TransitionEvidence
from pie.services import plans_intel
from pie.services.intel_batch import Batch
from pie.services.plans_intel import NarrativeWriter
from pie.services.political_map import one_per_contact
from pie.services.progression import evidence_quotes, transition_to

_EMAIL_DOMAIN = re.compile(r"@([\w.-]+)$")
FREE_MAIL = frozenset(
    {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com"}
)


def content_digest(activity: Activity) -> str:
    """The fingerprint of an activity version's content: what the pipeline reads. Enrichment
    written back onto the activity does not change it."""
    parts = (
        str(activity.type),
        activity.occurred_at.isoformat(),
        activity.subject or "",
        activity.raw_content or "",
    )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass(slots=True)
class Applied:
    """What applying one conversation did."""

    activity_id: UUID
    account_id: UUID | None
    deal_id: UUID | None
    decision: Decision
    created_deal: bool = False
    skipped: bool = False  # this activity version was processed before
    stage_from: Stage | None = None
    stage_to: Stage | None = None
    stage_reason: str | None = None
    stakeholder_ids: list[UUID] = field(default_factory=list)
    contacts_created: int = 0
    kept: list[Kept] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def domain_of(email: str | None) -> str | None:
    if not email:
        return None
    found = _EMAIL_DOMAIN.search(email.strip().lower())
    return found.group(1).removeprefix("www.") if found else None


def buyer_people(conv: Conversation, extraction: Extraction) -> list[InferredStakeholder]:
    """Buyer-side people: the extractor's inferred stakeholders, plus buyer participants it did
    not name (so every buyer with an email becomes a contact)."""
    seller_domains = {d.lower() for d in conv.seller_domains}
    people: list[InferredStakeholder] = [
        p
        for p in extraction.enrichment.stakeholders
        if p.side is not Side.SELLER and (p.email or p.name)
    ]
    known = {p.email.lower() for p in people if p.email} | {
        p.name.lower() for p in people if p.name
    }
    for part in conv.participants:
        if _is_seller(part, seller_domains):
            continue
        key = (part.email or part.name or "").lower()
        if key and key not in known and (part.email or part.name):
            people.append(
                InferredStakeholder(
                    name=part.name, email=part.email, title=part.title, side=Side.BUYER
                )
            )
            known.add(key)
    return [p for p in people if not _is_seller_email(p.email, seller_domains)]


def _is_seller(part: Participant, seller_domains: set[str]) -> bool:
    return part.side is Side.SELLER or _is_seller_email(part.email, seller_domains)


def _is_seller_email(email: str | None, seller_domains: set[str]) -> bool:
    d = domain_of(email)
    return d is not None and d in seller_domains


def stamp_evidence(
    extraction: Extraction, activity_id: UUID, at: datetime
) -> tuple[Extraction, dict[str, Any]]:
    """Every evidence item of ``extraction`` names the activity it came from and when; also
    the result as JSON."""
    doc = extraction.model_dump(mode="json")
    evidence_keys = {"quote", "start", "end"}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if evidence_keys <= node.keys():
                if not node.get("activity_id"):
                    node["activity_id"] = str(activity_id)
                if not node.get("at"):
                    node["at"] = at.isoformat()
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return Extraction.model_validate(doc), doc


def account_lock(account_id: UUID | None) -> str:
    """The lock every writer of one account's intelligence holds (see ``apply_extraction``)."""
    return f"account:{account_id}"


def buyer_domains(conv: Conversation) -> list[str]:
    """The company email domains of the buyer-side participants, in order of appearance."""
    sellers = {d.lower() for d in conv.seller_domains}
    return list(
        dict.fromkeys(
            d
            for p in conv.participants
            if not _is_seller(p, sellers) and (d := domain_of(p.email)) and d not in FREE_MAIL
        )
    )


def new_account(tenant_id: UUID, domain: str, now: datetime) -> Account:
    """The account PIE makes for a buyer's company email domain it does not know."""
    return Account(
        id=derive_id(tenant_id, EntityKind.ACCOUNT, "pie-domain", domain),
        tenant_id=tenant_id,
        name=domain.split(".")[-2].capitalize() if domain.count(".") else domain,
        domain=domain,
        created_at=now,
        updated_at=now,
    )


def contact_id_for(tenant_id: UUID, account_id: UUID, person: InferredStakeholder) -> UUID:
    """The id of the contact PIE makes for a person of an account."""
    key = (person.email or person.name or "").lower()
    return derive_id(tenant_id, EntityKind.CONTACT, "pie", account_id, key)


def new_deal_id(tenant_id: UUID, activity_id: UUID) -> UUID:
    """The id of the deal a conversation opens (so a replay finds the same one)."""
    return derive_id(tenant_id, EntityKind.DEAL, "pie", activity_id)


def _contacts_and_stakeholders(
    batch: Batch,
    account: Account,
    people: Sequence[InferredStakeholder],
    at: datetime,
    applied: Applied,
) -> dict[UUID, tuple[Stakeholder, InferredStakeholder]]:
    """Contact and account stakeholder of each person (created when missing)."""
    tenant = batch.tenant_id
    contacts = batch.account_contacts(account.id)
    by_email: dict[str, UUID] = {}
    for c in sorted(batch.contacts.values(), key=lambda c: (c.created_at, c.id)):
        if c.email:
            by_email.setdefault(c.email.lower(), c.id)
    by_name = {c.name.lower(): c for c in contacts}
    stakeholders = {
        s.contact_id: s for s in one_per_contact(batch.account_stakeholders(account.id))
    }
    out: dict[UUID, tuple[Stakeholder, InferredStakeholder]] = {}
    for p in people:
        contact: Contact | None = None
        if p.email and p.email.lower() in by_email:
            contact = batch.contacts[by_email[p.email.lower()]]
        elif p.name and p.name.lower() in by_name:
            contact = by_name[p.name.lower()]
        if contact is None:
            contact = Contact(
                id=contact_id_for(tenant, account.id, p),
                tenant_id=tenant,
                account_id=account.id,
                name=p.name or (p.email or "?").split("@")[0],
                title=p.title,
                email=p.email,
                created_at=at,
                updated_at=at,
            )
            if contact.id in batch.contacts:
                contact = batch.contacts[contact.id]
            else:
                batch.add(EntityKind.CONTACT, contact)
                applied.contacts_created += 1
            by_name[contact.name.lower()] = contact
            if p.email:
                by_email[p.email.lower()] = contact.id
        elif p.title and not contact.title:
            applied.kept.extend(
                batch.update(
                    EntityKind.CONTACT, replace(contact, title=p.title, updated_at=at), _F_TITLE
                )
            )
            contact = replace(contact, title=p.title)
        holder = stakeholders.get(contact.id)
        if holder is None:
            holder = Stakeholder(
                id=derive_id(tenant, EntityKind.STAKEHOLDER, "pie", account.id, contact.id),
                tenant_id=tenant,
                account_id=account.id,
                deal_id=None,
                contact_id=contact.id,
                created_at=at,
                updated_at=at,
            )
            if holder.id in batch.stakeholders:
                holder = batch.stakeholders[holder.id]
            else:
                batch.add(EntityKind.STAKEHOLDER, holder)
            stakeholders[contact.id] = holder
        out[holder.id] = (holder, p if p.title or not contact.title else _with_title(p, contact))
    return out


def _with_title(p: InferredStakeholder, c: Contact) -> InferredStakeholder:
    return p.model_copy(update={"title": c.title})


_F_TITLE = frozenset({"title", "updated_at"})
_F_STAKEHOLDER = frozenset(
    {"roles", "scores", "score_sources", "sentiment", "engagement", "updated_at"}
)


def score_stakeholders(
    batch: Batch,
    found: dict[UUID, tuple[Stakeholder, InferredStakeholder]],
    activity_id: UUID,
    at: datetime,
    applied: Applied,
) -> None:
    """Roles and scores from the title (heuristic) and the conversation (signals), by the
    rules of ``pie.domain.political``; the flat scores are mirrored onto the stakeholder."""
    for sid, (holder, person) in found.items():
        before = batch.profiles.get(sid) or StakeholderProfile(stakeholder_id=sid)
        prof = before
        for name, rec in heuristic_scores(person.title, at).items():
            prof = propose(prof, name, rec)
        for hint in person.scores:
            prof = propose(
                prof,
                hint.score,
                ScoreRecord(
                    value=hint.value,
                    source=ScoreSource.CONVERSATION_SIGNAL,
                    evidence=hint.evidence.quote,
                    at=hint.evidence.at or at,
                    activity_id=activity_id,
                ),
                counter_evidence=bool(_COUNTER.search(hint.evidence.quote)),
            )
        for name, value in ((SENTIMENT, person.sentiment), (ENGAGEMENT, person.engagement)):
            if value is not None:
                prof = propose(
                    prof,
                    name,
                    ScoreRecord(
                        value=value,
                        source=ScoreSource.CONVERSATION_SIGNAL,
                        evidence="measured in the conversation",
                        at=at,
                        activity_id=activity_id,
                    ),
                )
        if person.communication_style and person.communication_style != prof.communication_style:
            prof = replace(
                prof,
                communication_style=person.communication_style,
                style_evidence=f"inferred from activity {activity_id}",
                updated_at=at,
            )
        if prof is not before and prof != before:
            batch.save_profile(prof)
        holder = batch.stakeholders.get(sid, holder)
        guess = guess_from_title(person.title)
        hints = [r for r in person.roles if r.confidence >= 0.5]
        roles = merge_roles(
            holder.roles,
            [*(guess.roles if guess else ()), *(r.role for r in hints if r.role not in STANCES)],
        )
        roles, stance_note = resolve_stance(
            roles,
            [
                StanceHint(r.role, r.confidence, r.evidence.quote if r.evidence else None)
                for r in hints
            ],
            when=at.date().isoformat(),
        )
        scores, sources = prof.flat()
        new = replace(
            holder,
            notes=stance_note or holder.notes,
            roles=roles,
            scores=scores,
            score_sources=sources,
            sentiment=prof.value(SENTIMENT),
            engagement=prof.value(ENGAGEMENT),
            updated_at=at,
        )
        fields = set(_F_STAKEHOLDER) | ({"notes"} if stance_note else set())
        if batch.provenance.get(sid, {}).get("scores", [PIE])[0] == HUMAN:
            fields -= {"scores", "score_sources"}  # a person's copy stays; the profile rules
        applied.kept.extend(batch.update(EntityKind.STAKEHOLDER, new, fields))
        applied.stakeholder_ids.append(sid)


_NAME = r"[A-Z][a-z]+(?: [A-Z][a-z]+)?"
_RELATIONS: tuple[tuple[re.Pattern[str], RelationshipKind], ...] = (
    (re.compile(rf"\b(?P<a>I|{_NAME}) (?:report|reports) (?:directly )?to (?P<b>{_NAME})"),
     RelationshipKind.REPORTS_TO),
    (re.compile(rf"\b(?P<b>{_NAME}) is (?P<a>my) (?:boss|manager|line manager)\b"),
     RelationshipKind.REPORTS_TO),
    (re.compile(rf"\b(?P<a>{_NAME}) (?:has a lot of|has real|has) influence (?:on|over) "
                rf"(?P<b>{_NAME})"), RelationshipKind.INFLUENCES),
    (re.compile(rf"\b(?P<b>{_NAME}) (?:listens to|relies on|trusts) (?P<a>I|me|{_NAME})\b"),
     RelationshipKind.INFLUENCES),
    (re.compile(rf"\b(?P<a>I|{_NAME}) (?:and|&) (?P<b>{_NAME}) (?:are aligned|agree|are on the "
                r"same page)"), RelationshipKind.ALLIED_WITH),
    (re.compile(rf"\b(?P<a>{_NAME}) (?:disagrees with|is against|opposes|pushes back on) "
                rf"(?P<b>me|{_NAME})\b"), RelationshipKind.OPPOSED_TO),
)  # fmt: skip
#: Words that, in a score's evidence, say a score should go down (explicit counter-evidence).
_COUNTER = re.compile(
    r"\b(no longer|not (?:the|a|our) (?:decision|final|budget)|doesn't|does not|has no say|"
    r"can't sign|cannot sign|stepped down|left the company|was overruled|moved to another)\b",
    re.I,
)


def infer_relationships(
    batch: Batch, account: Account, conv: Conversation, activity_id: UUID, at: datetime
) -> int:
    """Relationships a buyer states ("I report to Mark Lee", "Dana has influence over Ravi"),
    between people of the account's map, each with its verbatim sentence as evidence. A
    relationship a person set is never replaced."""
    holders = one_per_contact(batch.account_stakeholders(account.id))
    if not holders:
        return 0
    names: dict[str, UUID] = {}
    firsts: dict[str, list[UUID]] = {}
    for h in holders:
        c = batch.contacts.get(h.contact_id)
        if c is None or c.account_id != account.id:
            continue
        names[c.name.lower()] = h.id
        firsts.setdefault(c.name.split()[0].lower(), []).append(h.id)

    def who(name: str, turn_speaker: str | None) -> UUID | None:
        key = name.lower()
        if key in ("i", "me", "my"):
            key = (turn_speaker or "").lower()
        if key in names:
            return names[key]
        found = firsts.get(key.split()[0]) if key else None
        return found[0] if found and len(found) == 1 else None

    made = 0
    for turn in conv.turns or ():
        if turn.side is Side.SELLER:
            continue
        for pattern, kind in _RELATIONS:
            for m in pattern.finditer(turn.text):
                a, b = who(m.group("a"), turn.speaker), who(m.group("b"), turn.speaker)
                if a is None or b is None or a == b:
                    continue
                old = batch.relationships.get((a, b, kind))
                if old is not None and old.source is ScoreSource.HUMAN_OVERRIDE:
                    continue
                start = turn.start + m.start()
                quote = conv.text[start : turn.start + m.end()]
                batch.save_relationship(
                    Relationship(
                        id=uuid4(),
                        from_id=a,
                        to_id=b,
                        kind=kind,
                        source=ScoreSource.CONVERSATION_SIGNAL,
                        evidence=quote,
                        activity_id=activity_id,
                        at=at,
                    )
                )
                made += 1
    return made


def _enrich_activity(activity: Activity, extraction: Extraction) -> Activity:
    en = extraction.enrichment
    if en.sentiment > 0.2:
        outcome = ActivityOutcome.POSITIVE
    elif en.sentiment < -0.2:
        outcome = ActivityOutcome.NEGATIVE
    else:
        outcome = ActivityOutcome.NEUTRAL
    return replace(
        activity,
        summary=en.summary or activity.summary,
        outcome=outcome,
        key_moments=tuple(
            KeyMoment(text=m.text, at_seconds=m.at_seconds, sentiment=m.sentiment)
            for m in en.key_moments
        )
        or activity.key_moments,
        next_steps=tuple(
            n.text
            + (f" (owner: {n.owner})" if n.owner else "")
            + (f" (due {n.due.isoformat()})" if n.due else "")
            for n in en.next_steps
        )
        or activity.next_steps,
        objections=tuple(
            Objection(objection=o.text, resolved=o.resolved, resolution=o.resolution)
            for o in en.objections
        )
        or activity.objections,
    )


def _new_deal(
    tenant_id: UUID, account: Account, extraction: Extraction, activity: Activity, at: datetime
) -> Deal:
    det = extraction.detection
    product = det.product_line
    return Deal(
        id=new_deal_id(tenant_id, activity.id),
        tenant_id=tenant_id,
        name=f"{account.name}: {product}" if product else f"{account.name}: new opportunity",
        account_id=account.id,
        stage=Stage.LEAD,
        value=Decimal(det.amount) if det.amount is not None else None,
        currency=(det.currency or "USD")[:3].upper(),
        probability=DEFAULT_PROBABILITY[Stage.LEAD],
        expected_close=det.timeline,
        product_line=product,
        source="agent",
        detection_confidence=det.confidence,
        created_at=at,
        updated_at=at,
    )


_F_DEAL = frozenset(
    {"qualification", "detection_confidence", "value", "expected_close", "product_line"}
)
_F_ACTIVITY_FILL = ("deal_id", "account_id", "summary", "key_moments", "next_steps", "objections")
_F_STAGE = frozenset({"stage", "probability"})


def advance(batch: Batch, deal: Deal, *, trigger: Activity) -> tuple[Stage, Stage, str] | None:
    """After a qualification update: move ``deal`` if the evidence supports a later stage (or
    revive it when it was stalled), by ``pie.domain.progression``. Returns (from, to, reason)
    when it moved."""
    activities = batch.deal_activities(deal.id)
    signals: set[str] = set()
    for a in activities:
        signals |= batch.signals(a.id)
    ev = evidence_of(filled(batch.qualification(deal)), signals, len(activities))
    owner, may = batch.stage_owner(deal)
    transitions = batch.transitions.get(deal.id, [])
    stalled_from = None
    if deal.stage is Stage.STALLED:
        stalled_from = next(
            (t.from_stage for t in reversed(transitions) if t.to_stage is Stage.STALLED), None
        )
    proposal = propose_stage(
        batch.settings, deal.stage, ev, stage_owner=owner, may_move=may,
        stalled_from=stalled_from,
    )  # fmt: skip
    to = proposal.to_stage
    if to is None:
        return None
    since = transitions[-1].at if transitions else deal.created_at
    at = max(trigger.occurred_at, since)  # history replayed out of order never goes back
    batch.update(
        EntityKind.DEAL, replace(deal, stage=to, probability=DEFAULT_PROBABILITY[to]), _F_STAGE
    )
    tr = transition_to(batch.tenant_id, deal, to, at=at, since=since, trigger=trigger)
    if all(t.id != tr.id for t in transitions):
        batch.add_transition(tr)
    batch.save_evidence(
        TransitionEvidence(
            transition_id=tr.id,
            reason=proposal.reason,
            evidence=tuple(evidence_quotes(deal, to, batch.settings)),
        )
    )
    return deal.stage, to, proposal.reason


def apply_extraction(
    batch: Batch,
    *,
    activity: Activity,
    is_new: bool,
    conversation: Conversation,
    extraction: Extraction,
    deal_id: UUID | None = None,
    account: Account | None = None,
    thresholds: Thresholds | None = None,
    force: bool = False,
) -> Applied:
    """Apply ``extraction`` of ``activity`` (stored already unless ``is_new``) to the batch's
    records; the caller holds the account's lock, updates the plans and flushes the batch. An
    activity version processed before is skipped unless ``force`` (a replay after a rule
    change)."""
    digest = content_digest(activity)
    at = activity.occurred_at
    now = batch.now
    if not is_new and not force:
        done = batch.intel.get(activity.id)
        if done is not None and done.digest == digest:
            return Applied(
                activity_id=activity.id,
                account_id=activity.account_id,
                deal_id=activity.deal_id,
                decision=Decision(action=DecisionAction.NONE, reason="processed before"),
                skipped=True,
            )
    extraction, doc = stamp_evidence(extraction, activity.id, at)
    applied = Applied(
        activity_id=activity.id,
        account_id=account.id if account else None,
        deal_id=None,
        decision=Decision(action=DecisionAction.NONE, reason="no account to attach a deal to"),
        warnings=list(extraction.warnings),
    )
    # 1. the deal
    deal: Deal | None = None
    if deal_id is not None or activity.deal_id is not None:
        ident = deal_id or activity.deal_id
        assert ident is not None
        deal = batch.deals.get(ident)
        if deal is None:
            raise DealNotFound(ident)
        applied.decision = Decision(
            action=DecisionAction.UPDATE,
            deal_id=deal.id,
            reason="the conversation names its deal",
            confidence=extraction.detection.confidence,
        )
    elif account is not None:
        open_deals = [d for d in batch.account_deals(account.id) if d.is_open][:500]
        applied.decision = decide(extraction.detection, open_deals, thresholds)
        if applied.decision.action is DecisionAction.CREATE:
            deal = _new_deal(batch.tenant_id, account, extraction, activity, at)
            existing = batch.deals.get(deal.id)
            if existing is None:
                deal = replace(deal, qualification=write_qualification(extraction.qualification))
                batch.add(EntityKind.DEAL, deal)
                batch.add_transition(
                    StageTransition(
                        id=derive_id(batch.tenant_id, EntityKind.STAGE_TRANSITION, "pie", deal.id),
                        tenant_id=batch.tenant_id,
                        deal_id=deal.id,
                        from_stage=None,
                        to_stage=Stage.LEAD,
                        at=deal.created_at,
                        value=deal.value,
                        expected_close=deal.expected_close,
                        probability=deal.probability,
                    )
                )
                applied.created_deal = True
            else:
                deal = existing
        elif applied.decision.action is DecisionAction.UPDATE:
            assert applied.decision.deal_id is not None
            deal = batch.deals.get(applied.decision.deal_id)
    # 2. people (after the deal is decided: that read comes first, under the lock)
    found: dict[UUID, tuple[Stakeholder, InferredStakeholder]] = {}
    if account is not None:
        found = _contacts_and_stakeholders(
            batch, account, buyer_people(conversation, extraction), at, applied
        )
    applied.deal_id = deal.id if deal else None
    if deal is not None and applied.account_id is None:
        applied.account_id = deal.account_id
    # 3. the activity
    contact_ids = tuple(dict.fromkeys(h.contact_id for h, _ in found.values()))
    enriched = _enrich_activity(
        replace(
            activity,
            deal_id=deal.id if deal else activity.deal_id,
            account_id=applied.account_id or activity.account_id,
            participants=tuple(dict.fromkeys((*activity.participants, *contact_ids))),
        ),
        extraction,
    )
    if is_new:
        batch.add(EntityKind.ACTIVITY, enriched)
    else:
        # an activity a source brought keeps what the source wrote: PIE fills what is empty
        # (its full enrichment is in the activity's intelligence either way)
        empty = {name for name in _F_ACTIVITY_FILL if not getattr(activity, name)}
        if activity.outcome is ActivityOutcome.UNKNOWN:
            empty.add("outcome")
        before = batch.intel.get(activity.id)
        if before is not None and activity.summary == before.enrichment.get("summary"):
            empty |= {"summary", "outcome", "key_moments", "next_steps", "objections"}  # PIE's
        batch.update(EntityKind.ACTIVITY, enriched, {"participants", *empty})
    # 4. qualification
    if deal is not None and not applied.created_deal:
        merged = merge_qualification(batch.qualification(deal), extraction.qualification)
        raw = write_qualification(merged)
        batch.known_qualification(raw, merged)
        det = extraction.detection
        updated = replace(
            deal,
            qualification=raw,
            detection_confidence=max(deal.detection_confidence or 0.0, det.confidence),
            value=deal.value
            if deal.value is not None or det.amount is None
            else Decimal(det.amount),
            expected_close=deal.expected_close or det.timeline,
            product_line=deal.product_line or det.product_line,
            updated_at=now,
        )
        applied.kept.extend(batch.update(EntityKind.DEAL, updated, _F_DEAL))
        deal = batch.deals[deal.id]
    # 5. political scores and the relationships the buyer states
    score_stakeholders(batch, found, activity.id, at, applied)
    if account is not None:
        infer_relationships(batch, account, conversation, activity.id, at)
    # 7. the marker (before progression, which reads the deal's processed signals)
    batch.save_intel(
        ActivityIntel(
            activity_id=activity.id,
            digest=digest,
            extractor=extraction.backend,
            extraction={k: v for k, v in doc.items() if k != "enrichment"},
            enrichment=doc["enrichment"],
            warnings=tuple(extraction.warnings),
            processed_at=now,
        )
    )
    # 6. the stage (the plans are updated once per batch, by the caller)
    if deal is not None:
        moved = advance(batch, deal, trigger=batch.activities[activity.id])
        if moved is not None:
            applied.stage_from, applied.stage_to, applied.stage_reason = moved
    return applied


async def update_plans(
    batch: Batch,
    touched: Sequence[tuple[UUID | None, UUID | None]],
    *,
    writer: NarrativeWriter | None = None,
) -> None:
    """Update each plan the batch's conversations touched, once: every (deal, account) pair's
    opportunity plan, then the account plans (the deal's account when none is given)."""
    writer = writer or plans_intel.OfflineNarrative()
    accounts: dict[UUID, None] = {}
    for deal_id in dict.fromkeys(d for d, _ in touched if d is not None):
        deal = batch.deals.get(deal_id)
        if deal is None:
            continue
        current = batch.deal_plans.get(deal_id)
        holders: list[Stakeholder] = []
        contacts: dict[UUID, Contact] = {}
        if deal.account_id is not None:
            holders = batch.account_stakeholders(deal.account_id)
            contacts = {c.id: c for c in batch.contacts.values()}
        data = plans_intel.opportunity_plan_data(
            current,
            deal,
            batch.qualification(deal),
            plans_intel.stakeholder_map(contacts, holders),
            batch.deal_activities(deal_id),
        )
        data.narrative = await _narrative(
            batch, "deal", deal_id, plans_intel.opportunity_facts(deal, data), writer
        )
        if current is None or current.data != data:
            batch.save_deal_plan(deal_id, data)
    for touched_deal, account_id in touched:
        deal = batch.deals.get(touched_deal) if touched_deal is not None else None
        owner = account_id or (deal.account_id if deal else None)
        if owner is not None:
            accounts[owner] = None
    for account_id in accounts:
        account = batch.accounts.get(account_id)
        if account is None:
            continue
        current_a = batch.account_plans.get(account_id)
        deals = batch.account_deals(account_id)[: plans_intel.ACCOUNT_PLAN_DEALS]
        activities = [a for d in deals for a in batch.deal_activities(d.id)]
        activities.sort(key=lambda a: (a.occurred_at, a.id))
        latest = activities[-plans_intel.ACCOUNT_PLAN_INTEL :]
        intel = [batch.intel[a.id] for a in latest if a.id in batch.intel]
        adata = plans_intel.account_plan_data(
            current_a, account, deals, activities, batch.transitions, intel
        )
        adata.narrative = await _narrative(
            batch, "account", account_id, plans_intel.account_facts(account, adata), writer
        )
        if current_a is None or current_a.data != adata:
            batch.save_account_plan(account_id, adata)


async def _narrative(
    batch: Batch, kind: str, owner: UUID, facts: str, writer: NarrativeWriter
) -> str:
    text, new = await plans_intel.narrative_for(
        kind, owner, facts, writer, batch.narratives.get((kind, owner)), batch.now
    )
    if new is not None:
        batch.save_narrative(new)
    return text
