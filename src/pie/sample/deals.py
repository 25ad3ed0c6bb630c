"""Turns one simulated ``DealPath`` into a ``pie/v1`` deal record and its ground-truth line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pie.domain.stages import DEFAULT_PROBABILITY, Stage
from pie.sample import vocab
from pie.sample.conversations import OBJECTIONS, PAINS, Speakers
from pie.sample.draws import Draws
from pie.sample.ground_truth import GroundTruth
from pie.sample.process import DealPath, Touch
from pie.sample.text import add_conversations
from pie.sample.world import Directory, account_id, contact_id

_STAGE_LABEL = {
    Stage.LEAD: "Intro",
    Stage.QUALIFICATION: "Qualification",
    Stage.DISCOVERY: "Discovery",
    Stage.DEMO: "Demo",
    Stage.PROPOSAL: "Proposal",
    Stage.NEGOTIATION: "Contract terms",
    Stage.STALLED: "Checking in",
}
_SUMMARY = {
    "routine": "{label} {kind} with {who}.",
    "intro": "First contact with {who} ({source}).",
    "trigger": "{label} {kind} with {who}; the deal moved on.",
    "objection": "{who} raised an objection.",
    "resolution": "Worked through the open objection with {who}.",
    "champion": "{who} offered to back the project internally.",
    "internal": "Internal deal review.",
}
_NEXT_STEPS = (
    "Send a recap email",
    "Schedule the next meeting",
    "Share customer references",
    "Prepare a tailored proposal",
    "Loop in the solutions engineer",
)
_NO_CHAMPION_ROLES = frozenset({"legal", "procurement", "gatekeeper"})


@dataclass(frozen=True, slots=True, kw_only=True)
class DealFacts:
    """What is fixed about a deal before its process runs."""

    index: int
    account: int
    product: int
    lead_source: int
    owner: str
    competitor: str | None
    objection: int  # into conversations.OBJECTIONS, used if a blocker appears


class Clock:
    def __init__(self, as_of: datetime) -> None:
        self.as_of = as_of

    def ts(self, t: float) -> str:
        return (self.as_of + timedelta(days=t)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def date(self, t: float) -> str:
        return (self.as_of + timedelta(days=t)).date().isoformat()


def deal_id(i: int) -> str:
    return f"D{i + 1:06d}"


def _sample(draws: Draws, n: int, k: int) -> list[int]:
    pool = list(range(n))
    for j in range(k):
        r = j + draws.index(n - j)
        pool[j], pool[r] = pool[r], pool[j]
    return sorted(pool[:k])


def _stakeholders(
    d: Directory, draws: Draws, facts: DealFacts, path: DealPath
) -> tuple[list[int], dict[int, list[str]], int | None, int | None]:
    start, n = int(d.contact_start[facts.account]), int(d.contact_count[facts.account])
    chosen = [start + j for j in _sample(draws, n, min(n, 2 + draws.index(4)))]
    roles = {c: list(vocab.ROLES_BY_TITLE[d.contact_title(c)]) for c in chosen}
    champion = blocker = None
    if path.champion_at is not None:
        eligible = [c for c in chosen if roles[c][0] not in _NO_CHAMPION_ROLES] or chosen
        champion = eligible[draws.index(len(eligible))]
        roles[champion].insert(0, "champion")
    if path.blocker_at is not None:
        others = [c for c in chosen if c != champion]
        blocker = others[draws.index(len(others))]
        roles[blocker].insert(0, "blocker")
    return chosen, roles, champion, blocker


def _participants(
    draws: Draws, touch: Touch, chosen: list[int], champion: int | None, blocker: int | None
) -> list[int]:
    if touch.purpose == "internal":
        return []
    if touch.purpose in ("objection", "resolution") and blocker is not None:
        return [blocker] if champion is None else [blocker, champion]
    if touch.purpose == "champion" and champion is not None:
        return [champion]
    first = chosen[draws.index(len(chosen))]
    if draws.chance(0.3):
        second = chosen[draws.index(len(chosen))]
        return [first] if second == first else sorted((first, second))
    return [first]


def _outcome(draws: Draws, touch: Touch) -> str:
    if touch.purpose in ("trigger", "resolution", "champion"):
        return "positive"
    if touch.purpose == "objection":
        return "negative"
    u = draws.uniform()
    return (
        "positive" if u < 0.4 else "neutral" if u < 0.75 else "unknown" if u < 0.92 else "negative"
    )


def _lost_reason(draws: Draws, facts: DealFacts, path: DealPath) -> str:
    last = path.visits[-1]
    if last.stage is Stage.STALLED:
        return "Went dark" if draws.chance(0.6) else "No decision"
    if last.ctx.unresolved_blocker:
        return "Blocked by stakeholder"
    if facts.competitor is not None and draws.chance(0.6):
        return "Lost to competitor"
    if last.ctx.size_ratio > 2.0 and draws.chance(0.5):
        return "Budget"
    return draws.pick(("No decision", "Budget", "Timing", "Chose to build in-house"))


def _history(clock: Clock, path: DealPath, ids: dict[int, str]) -> list[dict[str, Any]]:
    v0 = path.visits[0]
    out: list[dict[str, Any]] = [
        {
            "from": None,
            "to": v0.stage.value,
            "at": clock.ts(path.created),
            "value": v0.value,
            "expected_close": clock.date(v0.expected_close),
            "probability": DEFAULT_PROBABILITY[v0.stage],
            "trigger_activity": None,
        }
    ]
    for k, v in enumerate(path.visits):
        if v.next is None:
            break
        at = v.enter + v.dwell
        after = path.visits[k + 1] if k + 1 < len(path.visits) else v
        close = at if v.next.is_closed else after.expected_close
        out.append(
            {
                "from": v.stage.value,
                "to": v.next.value,
                "at": clock.ts(at),
                "value": after.value,
                "expected_close": clock.date(close),
                "probability": DEFAULT_PROBABILITY[v.next],
                "trigger_activity": ids[id(v.trigger)] if v.trigger is not None else None,
            }
        )
    return out


def _truth_visits(clock: Clock, path: DealPath) -> list[dict[str, Any]]:
    return [
        {
            "stage": v.stage.value,
            "at": clock.ts(v.enter),
            "champion": v.ctx.has_champion,
            "blocker": v.ctx.unresolved_blocker,
            "engaged": v.ctx.engaged_recently,
            "size_ratio": round(v.ctx.size_ratio, 4),
            "dwell_days": round(v.dwell, 5),
            "move": v.move.value if v.move is not None else None,
            "next": v.next.value if v.next is not None else None,
        }
        for v in path.visits
    ]


def build_deal(
    gt: GroundTruth,
    d: Directory,
    clock: Clock,
    draws: Draws,
    text: Draws | None,
    facts: DealFacts,
    path: DealPath,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The deal record and its ground-truth line."""
    did, a = deal_id(facts.index), facts.account
    chosen, roles, champion, blocker = _stakeholders(d, draws, facts, path)
    account_name = d.account_name(a)
    product = vocab.PRODUCT_LINES[facts.product][0]
    ids = {id(t): f"{did}-{k + 1:02d}" for k, t in enumerate(path.touches)}
    objection, resolution = OBJECTIONS[facts.objection]
    activities: list[dict[str, Any]] = []
    for touch in path.touches:
        who = _participants(draws, touch, chosen, champion, blocker)
        label = _STAGE_LABEL.get(touch.stage, "Follow-up")
        names = ", ".join(d.contact_name(c) for c in who) or "the team"
        activity: dict[str, Any] = {
            "id": ids[id(touch)],
            "type": touch.kind,
            "at": clock.ts(touch.t),
            "participants": [contact_id(c) for c in who],
            "outcome": _outcome(draws, touch),
            "subject": f"{label} {touch.kind.replace('_', '-')} - {account_name}",
            "summary": _SUMMARY[touch.purpose].format(
                label=label,
                kind=touch.kind.replace("_", "-"),
                who=names,
                source=vocab.LEAD_SOURCES[facts.lead_source][0],
            ),
            "next_steps": [draws.pick(_NEXT_STEPS)] if touch.kind in ("call", "meeting") else [],
        }
        if touch.purpose == "objection":
            resolved_at = path.resolved_at
            done = resolved_at is not None
            activity["objections"] = [
                {
                    "objection": objection,
                    "resolved": done,
                    "resolution": resolution if done else None,
                    "resolved_at": clock.ts(resolved_at) if resolved_at is not None else None,
                }
            ]
        activities.append(activity)
    stage = path.stage
    last = path.visits[-1]
    closed_at = path.closed_at
    lost_reason = _lost_reason(draws, facts, path) if stage is Stage.CLOSED_LOST else None
    history = _history(clock, path, ids)
    truth: dict[str, Any] = {
        "deal": did,
        "account": account_id(a),
        "icp_match": d.icp_match(a),
        "competitor": facts.competitor,
        "champion": contact_id(champion) if champion is not None else None,
        "champion_at": clock.ts(path.champion_at) if path.champion_at is not None else None,
        "blocker": contact_id(blocker) if blocker is not None else None,
        "blocker_at": clock.ts(path.blocker_at) if path.blocker_at is not None else None,
        "blocker_resolved_at": (
            clock.ts(path.resolved_at) if path.resolved_at is not None else None
        ),
        "visits": _truth_visits(clock, path),
        "signals": {},
    }
    if text is not None:
        economic = [c for c in chosen if "economic_buyer" in roles[c]]
        speakers = Speakers(
            rep=facts.owner,
            rep_email=facts.owner.lower().replace(" ", ".") + "@pie-demo.example",
            buyer="",
            buyer_email="",
            account=account_name,
        )
        truth["signals"] = add_conversations(
            text,
            d,
            clock,
            path,
            activities,
            speakers,
            economic[0] if economic else None,
            competitor=facts.competitor,
            objection=objection,
            pain=PAINS[facts.index % len(PAINS)],
            account=a,
            icp=d.icp_match(a),
            value=last.value,
        )
    primary = champion if champion is not None else chosen[0]

    def known_since(c: int) -> str:
        """When the contact became known in its roles: a champion or blocker when found."""
        if c == champion and path.champion_at is not None:
            return clock.ts(path.champion_at)
        if c == blocker and path.blocker_at is not None:
            return clock.ts(path.blocker_at)
        return str(history[0]["at"])

    updated = max(history[-1]["at"], activities[-1]["at"]) if activities else history[-1]["at"]
    deal: dict[str, Any] = {
        "id": did,
        "name": f"{account_name} - {product}",
        "account": account_id(a),
        "stage": stage.value,
        "value": last.value,
        "currency": "USD",
        "probability": DEFAULT_PROBABILITY[stage],
        "expected_close": history[-1]["expected_close"],
        "owner": facts.owner,
        "product_line": product,
        "lead_source": vocab.LEAD_SOURCES[facts.lead_source][0],
        "lost_reason": lost_reason,
        "created_at": history[0]["at"],
        "updated_at": updated,
        "closed_at": clock.ts(closed_at) if closed_at is not None else None,
        "stage_history": history,
        "stakeholders": [
            {
                "contact": contact_id(c),
                "roles": roles[c],
                "primary": c == primary,
                "sentiment": (
                    -0.6
                    if c == blocker and path.resolved_at is None
                    else 0.8
                    if c == champion
                    else 0.1
                ),
                "engagement": 0.8 if c == champion else 0.4,
                "created_at": known_since(c),
            }
            for c in chosen
        ],
        "activities": activities,
    }
    truth["outcome"] = (
        "won" if stage is Stage.CLOSED_WON else "lost" if stage is Stage.CLOSED_LOST else "open"
    )
    truth["lost_reason"] = lost_reason
    return deal, truth
