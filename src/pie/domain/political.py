"""The political map of an account (seed 000 pattern 3 and pitfall 5; seed 004's stakeholder).

A stakeholder has several roles (seed 000's six: decision maker, influencer, champion, blocker,
user, gatekeeper) and seed 004's sub-roles (economic buyer, technical buyer, legal, procurement,
end user), each sub-role implying one of the six (``SUB_ROLES``). Its scores:

* ``decision_power``, ``influence``, ``relationship_strength``: 0-10;
* ``sentiment``: -1..1, ``engagement``: 0..1 (seed 004).

Every score remembers where it came from, with the evidence for it (``ScoreRecord``). The
sources rank heuristic (from the title) < conversation signal < human override, and
``apply_score`` is the one rule for replacing a score:

* a human override always wins and is never replaced by anything but another override;
* a conversation signal replaces a heuristic or an earlier signal when it raises the score;
  it may lower one only with explicit counter-evidence (``counter_evidence=True``);
  ``sentiment`` and ``engagement`` are measurements of the latest conversations, so a newer
  signal replaces them either way;
* a heuristic only fills an empty score or replaces another heuristic (a new title).

Everything here is pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pie.domain.errors import InvalidInput
from pie.domain.model import StakeholderRole

DECISION_POWER = "decision_power"
INFLUENCE = "influence"
RELATIONSHIP_STRENGTH = "relationship_strength"
SENTIMENT = "sentiment"
ENGAGEMENT = "engagement"

#: Score name -> (lowest, highest).
SCORE_RANGES: Mapping[str, tuple[float, float]] = {
    DECISION_POWER: (0.0, 10.0),
    INFLUENCE: (0.0, 10.0),
    RELATIONSHIP_STRENGTH: (0.0, 10.0),
    SENTIMENT: (-1.0, 1.0),
    ENGAGEMENT: (0.0, 1.0),
}
#: Scores that follow the latest conversation (up or down) rather than only rising.
MEASUREMENTS = frozenset({SENTIMENT, ENGAGEMENT})

#: Seed 000's six roles.
MAIN_ROLES: tuple[StakeholderRole, ...] = (
    StakeholderRole.DECISION_MAKER,
    StakeholderRole.INFLUENCER,
    StakeholderRole.CHAMPION,
    StakeholderRole.BLOCKER,
    StakeholderRole.USER,
    StakeholderRole.GATEKEEPER,
)
#: Seed 004's sub-roles and the main role each implies.
SUB_ROLES: Mapping[StakeholderRole, StakeholderRole] = {
    StakeholderRole.ECONOMIC_BUYER: StakeholderRole.DECISION_MAKER,
    StakeholderRole.TECHNICAL_BUYER: StakeholderRole.INFLUENCER,
    StakeholderRole.LEGAL: StakeholderRole.GATEKEEPER,
    StakeholderRole.PROCUREMENT: StakeholderRole.GATEKEEPER,
    StakeholderRole.END_USER: StakeholderRole.USER,
}


class ScoreSource(StrEnum):
    HEURISTIC = "heuristic"
    CONVERSATION_SIGNAL = "conversation_signal"
    HUMAN_OVERRIDE = "human_override"

    @property
    def rank(self) -> int:
        return _SOURCE_RANK[self]


_SOURCE_RANK = {
    ScoreSource.HEURISTIC: 0,
    ScoreSource.CONVERSATION_SIGNAL: 1,
    ScoreSource.HUMAN_OVERRIDE: 2,
}


class RelationshipKind(StrEnum):
    REPORTS_TO = "reports_to"
    INFLUENCES = "influences"
    ALLIED_WITH = "allied_with"
    OPPOSED_TO = "opposed_to"


#: Kinds that hold both ways (stored once, read from either end).
SYMMETRIC = frozenset({RelationshipKind.ALLIED_WITH, RelationshipKind.OPPOSED_TO})


def check_score(name: str, value: float) -> float:
    """``value`` if ``name`` is a score and the value is in its range; InvalidInput otherwise."""
    if name not in SCORE_RANGES:
        raise InvalidInput(
            f"unknown score {name!r}; one of {', '.join(SCORE_RANGES)}", field="score"
        )
    low, high = SCORE_RANGES[name]
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreRecord:
    """One score's value, where it came from and why (``evidence``: a title, a verbatim quote
    or a person's note; ``activity_id``: the conversation it came from)."""

    value: float
    source: ScoreSource
    evidence: str
    at: datetime
    activity_id: UUID | None = None
    by: str | None = None  # who made a human override

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "source": self.source.value,
            "evidence": self.evidence,
            "at": self.at.isoformat(),
            "activity_id": str(self.activity_id) if self.activity_id else None,
            "by": self.by,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ScoreRecord:
        return cls(
            value=float(d["value"]),
            source=ScoreSource(d["source"]),
            evidence=str(d.get("evidence") or ""),
            at=datetime.fromisoformat(d["at"]),
            activity_id=UUID(d["activity_id"]) if d.get("activity_id") else None,
            by=d.get("by"),
        )


def apply_score(
    name: str,
    current: ScoreRecord | None,
    proposed: ScoreRecord,
    *,
    counter_evidence: bool = False,
) -> ScoreRecord | None:
    """The record to keep after ``proposed``, or None when ``current`` stays (see the module
    docstring for the rules)."""
    check_score(name, proposed.value)
    if current is None:
        return proposed
    if proposed.source is ScoreSource.HUMAN_OVERRIDE:
        return None if proposed == current else proposed
    if current.source is ScoreSource.HUMAN_OVERRIDE:
        return None
    if proposed.source is ScoreSource.HEURISTIC:
        if current.source is ScoreSource.HEURISTIC and proposed.value != current.value:
            return proposed
        return None
    # a conversation signal over a heuristic or an earlier signal
    if proposed.value == current.value and current.source is proposed.source:
        return None
    if proposed.value >= current.value or name in MEASUREMENTS or counter_evidence:
        return proposed
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class TitleGuess:
    roles: tuple[StakeholderRole, ...]
    decision_power: float
    influence: float
    rule: str  # which rule matched, for the evidence text


# (pattern, roles, decision power, influence); first match wins, so specific before general.
_TITLE_RULES: tuple[tuple[str, tuple[StakeholderRole, ...], float, float], ...] = (
    (
        r"\b(ceo|chief executive|founder|co-founder|owner|president|managing director)\b",
        (StakeholderRole.DECISION_MAKER, StakeholderRole.ECONOMIC_BUYER),
        10,
        9,
    ),
    (
        r"\b(cfo|chief financial|finance director|vp,? finance|head of finance|controller)\b",
        (StakeholderRole.DECISION_MAKER, StakeholderRole.ECONOMIC_BUYER),
        9,
        8,
    ),
    (
        r"\b(cto|cio|ciso|chief (technology|information|security|data)|vp,? (of )?"
        r"(engineering|it|technology|security))\b",
        (StakeholderRole.DECISION_MAKER, StakeholderRole.TECHNICAL_BUYER),
        8,
        8,
    ),
    (
        r"\b(c[a-z]o|chief [a-z]+ officer|chief [a-z]+)\b",
        (StakeholderRole.DECISION_MAKER,),
        9,
        8,
    ),
    (
        r"\b(procurement|purchasing|buyer|sourcing|vendor manag)",
        (StakeholderRole.GATEKEEPER, StakeholderRole.PROCUREMENT),
        4,
        4,
    ),
    (
        r"\b(legal|counsel|attorney|lawyer|compliance|contracts?)\b",
        (StakeholderRole.GATEKEEPER, StakeholderRole.LEGAL),
        4,
        4,
    ),
    (
        r"\b(svp|evp|senior vice president|vice president|vp|gm|general manager)\b",
        (StakeholderRole.DECISION_MAKER,),
        8,
        7,
    ),
    (
        r"\b(architect|it director|director of (it|engineering)|head of (it|engineering))\b",
        (StakeholderRole.INFLUENCER, StakeholderRole.TECHNICAL_BUYER),
        5,
        7,
    ),
    (r"\b(director|head of|head)\b", (StakeholderRole.INFLUENCER,), 6, 6),
    (r"\b(manager|lead|supervisor|team lead)\b", (StakeholderRole.INFLUENCER,), 4, 5),
    (r"\b(assistant|coordinator|office manager|ea)\b", (StakeholderRole.GATEKEEPER,), 1, 3),
    (
        r"\b(engineer|developer|analyst|specialist|representative|rep|associate|admin"
        r"|administrator|operator|agent|consultant)\b",
        (StakeholderRole.USER, StakeholderRole.END_USER),
        2,
        3,
    ),
)
_COMPILED: tuple[tuple[re.Pattern[str], tuple[StakeholderRole, ...], float, float], ...] = tuple(
    (re.compile(p, re.IGNORECASE), roles, power, influence)
    for p, roles, power, influence in _TITLE_RULES
)
#: Where every score starts without a title or any conversation.
BASELINE_RELATIONSHIP = 3.0


def guess_from_title(title: str | None) -> TitleGuess | None:
    """Roles and scores a job title suggests, or None for no title or one no rule knows."""
    if not title or not title.strip():
        return None
    for pattern, roles, power, influence in _COMPILED:
        found = pattern.search(title)
        if found:
            return TitleGuess(
                roles=roles,
                decision_power=float(power),
                influence=float(influence),
                rule=found.group(0),
            )
    return None


def heuristic_scores(title: str | None, at: datetime) -> dict[str, ScoreRecord]:
    """The title's scores as heuristic records (empty when the title says nothing)."""
    guess = guess_from_title(title)
    if guess is None:
        return {}
    why = f"title {title!r} ({guess.rule})"
    return {
        DECISION_POWER: ScoreRecord(
            value=guess.decision_power, source=ScoreSource.HEURISTIC, evidence=why, at=at
        ),
        INFLUENCE: ScoreRecord(
            value=guess.influence, source=ScoreSource.HEURISTIC, evidence=why, at=at
        ),
        RELATIONSHIP_STRENGTH: ScoreRecord(
            value=BASELINE_RELATIONSHIP,
            source=ScoreSource.HEURISTIC,
            evidence="baseline for a new contact",
            at=at,
        ),
    }


def main_roles(roles: Iterable[StakeholderRole]) -> tuple[StakeholderRole, ...]:
    """The six main roles ``roles`` amount to (a sub-role counts as its main role), in
    ``MAIN_ROLES`` order."""
    have = {SUB_ROLES.get(r, r) for r in roles}
    return tuple(r for r in MAIN_ROLES if r in have)


def sub_roles(roles: Iterable[StakeholderRole]) -> tuple[StakeholderRole, ...]:
    return tuple(r for r in SUB_ROLES if r in set(roles))


def merge_roles(
    current: Iterable[StakeholderRole], added: Iterable[StakeholderRole]
) -> tuple[StakeholderRole, ...]:
    """``current`` plus ``added`` with each sub-role's main role, in a stable order."""
    have = set(current) | set(added)
    have |= {SUB_ROLES[r] for r in have if r in SUB_ROLES}
    order = (*MAIN_ROLES, *SUB_ROLES)
    return tuple(r for r in order if r in have)


#: The two opposite stances: a person is a champion or a blocker, never both at once.
_OPPOSITE = {
    StakeholderRole.CHAMPION: StakeholderRole.BLOCKER,
    StakeholderRole.BLOCKER: StakeholderRole.CHAMPION,
}
STANCES = frozenset(_OPPOSITE)
#: Within one conversation, the stronger stance wins only by this much confidence.
STANCE_MARGIN = 0.1


@dataclass(frozen=True, slots=True)
class StanceHint:
    """A conversation's evidence for a champion or blocker stance."""

    role: StakeholderRole
    confidence: float
    quote: str | None = None


def resolve_stance(
    current: Iterable[StakeholderRole], hints: Iterable[StanceHint], *, when: str
) -> tuple[tuple[StakeholderRole, ...], str | None]:
    """The roles after this conversation's champion/blocker evidence, and a note saying why
    when the stance changed or is in doubt (``None`` otherwise).

    The newer evidence wins: a conversation's champion evidence replaces an earlier blocker
    role and the other way round. When one conversation holds both, the stronger wins by
    ``STANCE_MARGIN``; closer than that, the stance stays what it was and the person is noted
    as conflicted. A person is never left champion and blocker at once without a note."""
    have = set(current)
    best: dict[StakeholderRole, StanceHint] = {}
    for h in hints:
        if h.role in _OPPOSITE and (h.role not in best or h.confidence > best[h.role].confidence):
            best[h.role] = h
    note: str | None = None
    champion, blocker = best.get(StakeholderRole.CHAMPION), best.get(StakeholderRole.BLOCKER)
    win: StanceHint | None = None
    if champion and blocker:
        if abs(champion.confidence - blocker.confidence) < STANCE_MARGIN:
            note = (
                f"conflicted ({when}): champion ({_q(champion)}) and blocker ({_q(blocker)}) "
                "in one conversation"
            )
        else:
            win = max(champion, blocker, key=lambda h: h.confidence)
            lose = blocker if win is champion else champion
            note = f"{win.role.value} ({when}): {_q(win)}; outweighs {lose.role.value} ({_q(lose)})"
    else:
        win = champion or blocker
        if win is not None and _OPPOSITE[win.role] in have:
            note = f"{win.role.value} ({when}), was {_OPPOSITE[win.role].value}: {_q(win)}"
    if win is not None:
        have.discard(_OPPOSITE[win.role])
        have.add(win.role)
    elif note is None and set(_OPPOSITE) <= have:
        note = f"conflicted ({when}): both champion and blocker, no newer evidence"
    order = (*MAIN_ROLES, *SUB_ROLES)
    return tuple(r for r in order if r in have), note


def settle_stances(
    records: Iterable[tuple[Iterable[StakeholderRole], datetime]],
) -> tuple[StakeholderRole | None, str | None]:
    """One person's stance across their records (the account's and each deal's), each given
    as (roles, updated_at): the role to drop when the records disagree, and a note.

    The newest record with one stance wins over older ones holding the other; when no record
    settles it (one record holds both), nothing is dropped and the note says conflicted."""
    single: list[tuple[datetime, StakeholderRole]] = []
    seen: set[StakeholderRole] = set()
    for roles, at in records:
        stances = set(roles) & STANCES
        seen |= stances
        if len(stances) == 1:
            single.append((at, next(iter(stances))))
    if seen != STANCES:
        return None, None
    if not single:
        return None, "conflicted: both champion and blocker, no newer evidence"
    at, win = max(single, key=lambda x: x[0])
    lose = _OPPOSITE[win]
    if all(r is win for _, r in single) or max(t for t, r in single if r is lose) < at:
        return (
            lose,
            f"{win.value} (newest, {at.date().isoformat()}); an older record says {lose.value}",
        )
    return None, "conflicted: records updated at the same time disagree"


def _q(h: StanceHint) -> str:
    return f'"{h.quote}"' if h.quote else "no quote"


@dataclass(frozen=True, slots=True, kw_only=True)
class StakeholderProfile:
    """What PIE knows of a stakeholder beyond the record: every score with its provenance and
    a short history of replaced values, and the communication style."""

    stakeholder_id: UUID
    scores: Mapping[str, ScoreRecord] = field(default_factory=dict)
    history: tuple[tuple[str, ScoreRecord], ...] = ()  # (score, replaced record), newest last
    communication_style: str | None = None
    style_evidence: str | None = None
    updated_at: datetime | None = None

    def value(self, name: str) -> float | None:
        rec = self.scores.get(name)
        return rec.value if rec else None

    def flat(self) -> tuple[dict[str, float], dict[str, str]]:
        """The scores and their sources as the stakeholder record keeps them."""
        return (
            {k: r.value for k, r in self.scores.items() if k not in MEASUREMENTS},
            {k: r.source.value for k, r in self.scores.items() if k not in MEASUREMENTS},
        )


#: Replaced score records kept per profile (the newest).
MAX_HISTORY = 50


def propose(
    profile: StakeholderProfile,
    name: str,
    proposed: ScoreRecord,
    *,
    counter_evidence: bool = False,
) -> StakeholderProfile:
    """``profile`` after ``proposed`` (the same object when the score stays)."""
    current = profile.scores.get(name)
    new = apply_score(name, current, proposed, counter_evidence=counter_evidence)
    if new is None:
        return profile
    history = profile.history + (((name, current),) if current else ())
    return replace(
        profile,
        scores={**profile.scores, name: new},
        history=history[-MAX_HISTORY:],
        updated_at=max(proposed.at, profile.updated_at or proposed.at),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Relationship:
    """``from_id`` reports to / influences / is allied with / opposed to ``to_id`` (stakeholder
    ids), with the evidence it rests on."""

    id: UUID
    from_id: UUID
    to_id: UUID
    kind: RelationshipKind
    source: ScoreSource
    evidence: str
    activity_id: UUID | None = None
    at: datetime

    def __post_init__(self) -> None:
        if self.from_id == self.to_id:
            raise InvalidInput("a stakeholder cannot have a relationship with itself")
