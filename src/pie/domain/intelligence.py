"""Deal intelligence from conversations: the typed shapes every extractor backend returns, and
the pure rules applied to them (issue 9, seeds 000 and 004).

Everything an extractor claims carries ``Evidence``: a verbatim quote with its character span
in the conversation's text. ``enforce_verbatim`` is the one place that checks this for every
backend: a piece of evidence whose quote is not exactly ``source[start:end]`` is repaired when
the quote occurs elsewhere in the source (LLMs often miscount offsets) and otherwise dropped,
and so is every claim left without evidence.

``merge_qualification`` folds a conversation's qualification into a deal's (newer or more
confident evidence wins, history is kept, a human's value is never overwritten) and
``decide`` turns an opportunity detection into create / update / nothing (seed 000, pattern 2
and pitfall 3). Both are pure; the handler that writes lives in the services.

The models are frozen Pydantic models so they serialise to JSON (``model_dump(mode="json")``)
for storage and the API, and load back with ``model_validate``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from pie.domain.model import Deal, StakeholderRole

# --------------------------------------------------------------------------------------------
# Conversations in


class Side(StrEnum):
    """Which side of the deal a speaker is on."""

    BUYER = "buyer"
    SELLER = "seller"
    UNKNOWN = "unknown"


class ConversationKind(StrEnum):
    CALL = "call"
    EMAIL = "email"
    CHAT = "chat"


class Direction(StrEnum):
    """For emails and chats: seen from the seller (inbound = the buyer wrote to us)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"
    UNKNOWN = "unknown"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Participant(_Frozen):
    name: str | None = None
    email: str | None = None
    side: Side = Side.UNKNOWN
    title: str | None = None


class Turn(_Frozen):
    """One speaker turn (a transcript line, a chat message, an email in a thread).

    ``start``/``end`` are the character span of the turn's words in ``Conversation.text``, so
    ``conversation.text[turn.start:turn.end] == turn.text``.
    """

    speaker: str | None = None
    email: str | None = None
    side: Side = Side.UNKNOWN
    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    at: datetime | None = None  # wall-clock time, when the source gives it
    offset_seconds: float | None = None  # offset into a call


class Conversation(_Frozen):
    """One email thread, chat or call transcript, as parsed. ``text`` is the source text that
    every evidence span points into."""

    text: str
    kind: ConversationKind = ConversationKind.CALL
    turns: tuple[Turn, ...] = ()
    participants: tuple[Participant, ...] = ()
    occurred_at: datetime | None = None  # the conversation's date: relative dates anchor here
    direction: Direction = Direction.UNKNOWN
    subject: str | None = None
    activity_id: UUID | None = None
    seller_domains: tuple[str, ...] = ()  # email domains of the seller's people


# --------------------------------------------------------------------------------------------
# Evidence and qualification


class Evidence(_Frozen):
    """A verbatim quote: ``quote == source[start:end]`` for the conversation it came from."""

    quote: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    activity_id: UUID | None = None
    speaker: str | None = None
    side: Side = Side.UNKNOWN
    at: datetime | None = None  # when it was said (the conversation's date at least)

    def same_source(self, other: Evidence) -> bool:
        return (
            self.activity_id == other.activity_id
            and self.start == other.start
            and self.end == other.end
            and self.quote == other.quote
        )


class PriorValue(_Frozen):
    """An earlier value of a qualification field, with the evidence it had."""

    value: str
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: Evidence | None = None
    by_human: bool = False


#: How many earlier values a field keeps.
MAX_HISTORY = 20


class QualificationField(_Frozen):
    """One BANT or MEDDIC field. ``value`` is a short normalised statement ("$120,000 per
    year", "Dana Reyes (CFO)", "2026-09-30"); ``amount``/``due`` carry the parsed money or date
    when the field is budget or timeline. A value entered by a human has ``by_human`` and no
    evidence is needed for it."""

    value: str
    evidence: Evidence | None = None
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    history: tuple[PriorValue, ...] = ()
    by_human: bool = False
    amount: Decimal | None = None
    currency: str | None = None
    due: date | None = None


BANT_FIELDS = ("budget", "authority", "need", "timeline")
MEDDIC_FIELDS = (
    "metrics",
    "economic_buyer",
    "decision_criteria",
    "decision_process",
    "identify_pain",
    "champion",
)
QUALIFICATION_FIELDS = BANT_FIELDS + MEDDIC_FIELDS
QualificationName = Literal[
    "budget",
    "authority",
    "need",
    "timeline",
    "metrics",
    "economic_buyer",
    "decision_criteria",
    "decision_process",
    "identify_pain",
    "champion",
]


class Qualification(_Frozen):
    budget: QualificationField | None = None
    authority: QualificationField | None = None
    need: QualificationField | None = None
    timeline: QualificationField | None = None
    metrics: QualificationField | None = None
    economic_buyer: QualificationField | None = None
    decision_criteria: QualificationField | None = None
    decision_process: QualificationField | None = None
    identify_pain: QualificationField | None = None
    champion: QualificationField | None = None

    def get(self, name: str) -> QualificationField | None:
        if name not in QUALIFICATION_FIELDS:
            raise KeyError(name)
        value: QualificationField | None = getattr(self, name)
        return value

    def items(self) -> Iterable[tuple[str, QualificationField]]:
        """The fields that are set, in BANT then MEDDIC order."""
        for name in QUALIFICATION_FIELDS:
            f = self.get(name)
            if f is not None:
                yield name, f

    def completion(self, names: Sequence[str]) -> float:
        """The share of ``names`` that are set (0..1)."""
        return sum(self.get(n) is not None for n in names) / len(names) if names else 0.0

    @property
    def bant_completion(self) -> float:
        return self.completion(BANT_FIELDS)

    @property
    def meddic_completion(self) -> float:
        return self.completion(MEDDIC_FIELDS)


# --------------------------------------------------------------------------------------------
# Opportunity detection


class SignalKind(StrEnum):
    BUDGET_MENTION = "budget_mention"
    PRODUCT_INTEREST = "product_interest"
    TIMELINE_URGENCY = "timeline_urgency"
    QUANTIFIED_PAIN = "quantified_pain"
    BUYING_PROCESS = "buying_process"
    COMPETITIVE_EVALUATION = "competitive_evaluation"


class Signal(_Frozen):
    kind: SignalKind
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: tuple[Evidence, ...] = ()
    value: str | None = None  # what the signal names: an amount, a product, a competitor


class Detection(_Frozen):
    """The opportunity signals in one conversation and how sure the detector is that the
    conversation shows a real buying opportunity (``confidence``)."""

    signals: tuple[Signal, ...] = ()
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    product_line: str | None = None
    timeline: date | None = None  # the expected close / go-live the buyer named
    amount: Decimal | None = None
    currency: str | None = None
    competitors: tuple[str, ...] = ()

    def signal(self, kind: SignalKind) -> Signal | None:
        return next((s for s in self.signals if s.kind is kind), None)


class DecisionAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    NONE = "none"


class Decision(_Frozen):
    action: DecisionAction
    deal_id: UUID | None = None  # the deal to update (update only)
    reason: str
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)


class Thresholds(_Frozen):
    create: float = Field(default=0.80, ge=0.0, le=1.0)
    update: float = Field(default=0.70, ge=0.0, le=1.0)
    #: A detection whose timeline is more than this many days from an open deal's expected
    #: close is a separate opportunity (seed 000: "more than 3 months").
    separate_timeline_days: int = Field(default=92, ge=0)


# --------------------------------------------------------------------------------------------
# Enrichment (seed 004)


class KeyMoment(_Frozen):
    text: str
    evidence: Evidence
    at_seconds: float | None = None
    at: datetime | None = None
    sentiment: float = Field(default=0.0, ge=-1.0, le=1.0)
    kind: str = "moment"  # pain, budget, timeline, competitor, objection, commitment, ...


class Objection(_Frozen):
    text: str
    evidence: Evidence
    category: str = "other"  # price, security, legal, integration, effort, timing, other
    resolved: bool = False
    resolution: str | None = None
    resolution_evidence: Evidence | None = None


class NextStep(_Frozen):
    text: str
    evidence: Evidence
    owner: str | None = None
    owner_side: Side = Side.UNKNOWN
    due: date | None = None


class TurnSentiment(_Frozen):
    turn: int  # index into Conversation.turns
    sentiment: float = Field(ge=-1.0, le=1.0)


ScoreName = Literal["decision_power", "influence", "relationship_strength"]


class ScoreHint(_Frozen):
    """A conversation signal about a stakeholder's political score (0-10)."""

    score: ScoreName
    value: float = Field(ge=0.0, le=10.0)
    evidence: Evidence


class RoleHint(_Frozen):
    role: StakeholderRole
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: Evidence | None = None  # None: from the title alone


class InferredStakeholder(_Frozen):
    name: str | None = None
    email: str | None = None
    title: str | None = None
    side: Side = Side.BUYER
    roles: tuple[RoleHint, ...] = ()
    scores: tuple[ScoreHint, ...] = ()
    sentiment: float | None = Field(default=None, ge=-1.0, le=1.0)
    engagement: float | None = Field(default=None, ge=0.0, le=1.0)
    communication_style: str | None = None  # analytical, driver, expressive, amiable
    mentioned_only: bool = False  # named in the conversation but not a participant


class Enrichment(_Frozen):
    summary: str = ""
    key_moments: tuple[KeyMoment, ...] = ()
    objections: tuple[Objection, ...] = ()
    next_steps: tuple[NextStep, ...] = ()
    turn_sentiment: tuple[TurnSentiment, ...] = ()
    sentiment: float = Field(default=0.0, ge=-1.0, le=1.0)  # overall, buyer side
    stakeholders: tuple[InferredStakeholder, ...] = ()
    communication_style: str | None = None  # the buyer side's dominant style


class Extraction(_Frozen):
    qualification: Qualification = Field(default_factory=Qualification)
    detection: Detection = Field(default_factory=Detection)
    enrichment: Enrichment = Field(default_factory=Enrichment)
    warnings: tuple[str, ...] = ()
    backend: str = "offline"


# --------------------------------------------------------------------------------------------
# The verbatim rule


def verify_evidence(source: str, ev: Evidence) -> Evidence | None:
    """``ev`` if its quote is exactly ``source[start:end]``; else the same quote at its nearest
    occurrence in ``source`` (offsets repaired); else None. Empty quotes are never evidence."""
    if not ev.quote.strip():
        return None
    if 0 <= ev.start < ev.end <= len(source) and source[ev.start : ev.end] == ev.quote:
        return ev
    at = _nearest(source, ev.quote, ev.start)
    if at < 0:
        return None
    return ev.model_copy(update={"start": at, "end": at + len(ev.quote)})


def _nearest(source: str, quote: str, near: int) -> int:
    best, i = -1, source.find(quote)
    while i >= 0:
        if best < 0 or abs(i - near) < abs(best - near):
            best = i
        i = source.find(quote, i + 1)
    return best


def enforce_verbatim(source: str, extraction: Extraction) -> Extraction:
    """``extraction`` with every piece of evidence checked against ``source`` (see
    ``verify_evidence``); claims left without evidence are dropped and each drop is named in
    a warning. Every backend's output goes through here."""
    dropped: list[str] = []

    def ok(ev: Evidence | None, what: str) -> Evidence | None:
        if ev is None:
            return None
        good = verify_evidence(source, ev)
        if good is None:
            dropped.append(what)
        return good

    q_updates: dict[str, QualificationField | None] = {}
    for name, f in extraction.qualification.items():
        if f.by_human:
            continue
        ev = ok(f.evidence, f"qualification.{name}")
        q_updates[name] = None if ev is None else f.model_copy(update={"evidence": ev})
    signals = []
    for s in extraction.detection.signals:
        evs = tuple(e for e in (ok(x, f"signal.{s.kind.value}") for x in s.evidence) if e)
        if evs:
            signals.append(s.model_copy(update={"evidence": evs}))
    det = extraction.detection
    if len(signals) != len(det.signals):
        det = det.model_copy(
            update={
                "signals": tuple(signals),
                "confidence": min(det.confidence, _combined(signals)),
            }
        )
    en = extraction.enrichment
    moments = []
    for m in en.key_moments:
        ev = ok(m.evidence, "key_moment")
        if ev is not None:
            moments.append(m.model_copy(update={"evidence": ev}))
    objections = []
    for o in en.objections:
        ev = ok(o.evidence, "objection")
        if ev is None:
            continue
        rev = ok(o.resolution_evidence, "objection.resolution")
        update: dict[str, object] = {"evidence": ev, "resolution_evidence": rev}
        if o.resolution_evidence is not None and rev is None:
            update |= {"resolved": False, "resolution": None}
        objections.append(o.model_copy(update=update))
    steps = []
    for n in en.next_steps:
        ev = ok(n.evidence, "next_step")
        if ev is not None:
            steps.append(n.model_copy(update={"evidence": ev}))
    people = []
    for p in en.stakeholders:
        roles = tuple(
            r.model_copy(update={"evidence": e})
            for r in p.roles
            if (e := ok(r.evidence, "stakeholder.role")) is not None or r.evidence is None
        )
        scores = tuple(
            s.model_copy(update={"evidence": e})
            for s in p.scores
            if (e := ok(s.evidence, "stakeholder.score")) is not None
        )
        people.append(p.model_copy(update={"roles": roles, "scores": scores}))
    out = extraction.model_copy(
        update={
            "qualification": extraction.qualification.model_copy(update=q_updates),
            "detection": det,
            "enrichment": en.model_copy(
                update={
                    "key_moments": tuple(moments),
                    "objections": tuple(objections),
                    "next_steps": tuple(steps),
                    "stakeholders": tuple(people),
                }
            ),
        }
    )
    if dropped:
        counts: dict[str, int] = {}
        for d in dropped:
            counts[d] = counts.get(d, 0) + 1
        named = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in sorted(counts.items()))
        out = out.model_copy(
            update={
                "warnings": (
                    *out.warnings,
                    f"dropped {len(dropped)} claim(s) whose quote is not in the text: {named}",
                )
            }
        )
    return out


def evidence_items(extraction: Extraction) -> Iterable[Evidence]:
    """Every piece of evidence in ``extraction`` (for checks and counts)."""
    for _, f in extraction.qualification.items():
        if f.evidence is not None:
            yield f.evidence
    for s in extraction.detection.signals:
        yield from s.evidence
    en = extraction.enrichment
    for m in en.key_moments:
        yield m.evidence
    for o in en.objections:
        yield o.evidence
        if o.resolution_evidence is not None:
            yield o.resolution_evidence
    for n in en.next_steps:
        yield n.evidence
    for p in en.stakeholders:
        for r in p.roles:
            if r.evidence is not None:
                yield r.evidence
        for sc in p.scores:
            yield sc.evidence


def _combined(signals: Sequence[Signal]) -> float:
    """Noisy-or of the signals' confidences."""
    miss = 1.0
    for s in signals:
        miss *= 1.0 - s.confidence
    return 1.0 - miss


# --------------------------------------------------------------------------------------------
# Merging qualification across conversations


def merge_field(
    old: QualificationField | None, new: QualificationField | None, *, human: bool = False
) -> QualificationField | None:
    """One field of ``merge_qualification``."""
    if new is None:
        return old
    if old is None:
        return new
    if (
        new.evidence is not None
        and old.evidence is not None
        and new.evidence.same_source(old.evidence)
        and new.value == old.value
    ):
        return old  # the same conversation processed again
    lost = PriorValue(value=new.value, confidence=new.confidence, evidence=new.evidence)
    if human or old.by_human:
        # a human's value stays; the conversation's evidence is remembered
        return old.model_copy(update={"history": _history(old.history, new.history, lost)})
    new_at = new.evidence.at if new.evidence is not None else None
    old_at = old.evidence.at if old.evidence is not None else None
    newer = new_at is not None and old_at is not None and new_at > old_at
    older = new_at is not None and old_at is not None and new_at < old_at
    if newer or new.confidence > old.confidence or (not older and new.confidence == old.confidence):
        prior = PriorValue(value=old.value, confidence=old.confidence, evidence=old.evidence)
        return new.model_copy(update={"history": _history(old.history, new.history, prior)})
    # the old value stays; the new evidence is remembered
    return old.model_copy(update={"history": _history(old.history, new.history, lost)})


def _history(
    a: Sequence[PriorValue], b: Sequence[PriorValue], latest: PriorValue
) -> tuple[PriorValue, ...]:
    out: list[PriorValue] = []
    for p in (*a, *b, latest):
        if any(_same_prior(p, q) for q in out):
            continue
        out.append(p)
    return tuple(out[-MAX_HISTORY:])


def _same_prior(a: PriorValue, b: PriorValue) -> bool:
    if a.value != b.value:
        return False
    if a.evidence is None or b.evidence is None:
        return a.evidence is b.evidence
    return a.evidence.same_source(b.evidence)


def merge_qualification(
    old: Qualification, new: Qualification, *, human_fields: Collection[str] = ()
) -> Qualification:
    """Fold ``new`` (one conversation's extraction) into ``old`` (a deal's qualification).

    Per field: newer evidence (a later ``Evidence.at``) or more confident evidence replaces
    the value; the replaced value moves into ``history`` (which also records evidence that did
    not win); a field named in ``human_fields`` or whose value has ``by_human`` is never
    overwritten. Merging the same extraction twice changes nothing.
    """
    updates: dict[str, QualificationField | None] = {}
    for name in QUALIFICATION_FIELDS:
        o, n = old.get(name), new.get(name)
        merged = merge_field(o, n, human=name in human_fields)
        if merged is not o:
            updates[name] = merged
    return old.model_copy(update=updates) if updates else old


# --------------------------------------------------------------------------------------------
# Create, update or nothing


def _same_product(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return True  # unknown on either side: not evidence of a different product line
    return a.strip().casefold() == b.strip().casefold()


def decide(
    detection: Detection, open_deals: Sequence[Deal], thresholds: Thresholds | None = None
) -> Decision:
    """Create a deal at ``thresholds.create`` or more, update one at ``thresholds.update`` or
    more, else nothing (seed 000, pattern 2). Updating is preferred: an open deal of the same
    account matches unless its product line differs from the detection's or its expected close
    is more than ``separate_timeline_days`` away from the detection's timeline; only then (or
    with no open deal at all) is a new deal created. ``open_deals`` are the account's deals
    (closed ones are ignored)."""
    t = thresholds or Thresholds()
    c = detection.confidence
    if c < t.update:
        return Decision(
            action=DecisionAction.NONE,
            reason=f"confidence {c:.2f} is below the update threshold {t.update:.2f}",
            confidence=c,
        )
    candidates = [d for d in open_deals if d.is_open]
    matches: list[tuple[int, float, Deal]] = []
    differences: list[str] = []
    for d in candidates:
        if not _same_product(detection.product_line, d.product_line):
            differences.append(
                f"deal {d.id} is for {d.product_line!r}, this is {detection.product_line!r}"
            )
            continue
        gap: int | None = None
        if detection.timeline is not None and d.expected_close is not None:
            gap = abs((detection.timeline - d.expected_close).days)
            if gap > t.separate_timeline_days:
                differences.append(
                    f"deal {d.id} closes {d.expected_close}, {gap} days from this timeline "
                    f"{detection.timeline}"
                )
                continue
        same_line = (
            detection.product_line is not None
            and d.product_line is not None
            and _same_product(detection.product_line, d.product_line)
        )
        matches.append((0 if same_line else 1, float(gap if gap is not None else 10_000), d))
    if matches:
        matches.sort(key=lambda m: (m[0], m[1], -m[2].updated_at.timestamp()))
        best = matches[0][2]
        return Decision(
            action=DecisionAction.UPDATE,
            deal_id=best.id,
            reason=f"confidence {c:.2f} >= {t.update:.2f}; open deal {best.id} matches",
            confidence=c,
        )
    if c < t.create:
        why = "; ".join(differences) if differences else "no open deal"
        return Decision(
            action=DecisionAction.NONE,
            reason=f"confidence {c:.2f} is below the create threshold {t.create:.2f} ({why})",
            confidence=c,
        )
    why = "; ".join(differences) if differences else "the account has no open deal"
    return Decision(
        action=DecisionAction.CREATE,
        reason=f"confidence {c:.2f} >= {t.create:.2f}: {why}",
        confidence=c,
    )
