"""Offline enrichment (seed 004's enricher layer): summary, key moments, objections and their
resolution, next steps with owner and due date, per-turn sentiment, stakeholders inferred from
the participants and communication style. Built on ``offline.analyse``'s sentences and hits.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date

from pie.domain.intelligence import (
    ConversationKind,
    Enrichment,
    Evidence,
    InferredStakeholder,
    KeyMoment,
    NextStep,
    Objection,
    RoleHint,
    ScoreHint,
    Side,
    TurnSentiment,
)
from pie.domain.model import StakeholderRole
from pie.intelligence import lexicon as lx
from pie.intelligence.dates import find_timeframes
from pie.intelligence.offline import Analysis, Hit, Sentence, cues, has, negated

_MOMENT_KINDS = {
    "budget": "budget",
    "timeline": "timeline",
    "authority": "authority",
    "champion": "champion",
    "identify_pain": "pain",
    "decision_process": "process",
    "decision_criteria": "criteria",
    "competitive_evaluation": "competitor",
    "quantified_pain": "pain",
    "product_interest": "interest",
}
MAX_MOMENTS = 12
_STYLE = {
    "analytical": re.compile(
        r"\b(?:data|metrics?|numbers?|report\w*|details?|specifically|exactly|how does|"
        r"compare|analysis|evidence|percent|accuracy|benchmark)\b|\d|%",
        re.I,
    ),
    "driver": re.compile(
        r"\b(?:bottom line|quickly|fast|decide|decision|deadline|now|today|results?|"
        r"need (?:this|it)|get (?:this|it) done|move forward|priority|asap)\b",
        re.I,
    ),
    "expressive": re.compile(
        r"!|\b(?:love|excited|amazing|awesome|fantastic|great|vision|imagine|big picture)\b",
        re.I,
    ),
    "amiable": re.compile(
        r"\b(?:team|together|everyone|comfortable|appreciate|thanks|thank you|feel|"
        r"relationship|support|help)\b",
        re.I,
    ),
}


def sentence_sentiment(s: Sentence) -> float:
    text = s.text
    pos = neg = 0
    for m in cues(lx.POSITIVE, s):
        if negated(text, m.start()):
            neg += 1
        else:
            pos += 1
    for m in cues(lx.NEGATIVE, s):
        if negated(text, m.start()) and not m.group(0).casefold().startswith("not"):
            pos += 1
        else:
            neg += 1
    if pos == neg == 0:
        return 0.0
    return round(max(-1.0, min(1.0, (pos - neg) / (pos + neg + 1))), 3)


def _ev(a: Analysis, s: Sentence) -> Evidence:
    c = a.conversation
    return Evidence(
        quote=s.text,
        start=s.start,
        end=s.end,
        activity_id=c.activity_id,
        speaker=s.speaker,
        side=s.side,
        at=s.at or c.occurred_at,
    )


def _objections(a: Analysis) -> list[Objection]:
    out: list[Objection] = []
    sents = a.sentences
    used: set[int] = set()
    for i, s in enumerate(sents):
        if s.side is Side.SELLER or s.counterfactual:
            continue
        m = has(lx.OBJECTION, s)
        if m is None:
            continue
        cue = m.group(0).casefold()
        if not cue.startswith(
            ("not ", "don't", "do not", "doesn't", "does not", "can't", "cannot")
        ) and negated(s.text, m.start()):
            continue
        if s.question and not re.search(r"\b(?:worried|concern)", cue):
            continue
        category = next((k for k, p in lx.OBJECTION_KINDS if p.search(lx.lower(s.text))), "other")
        # the resolution: a later seller answer, confirmed by the buyer
        resolution: Sentence | None = None
        resolved = False
        for t in sents[i + 1 : i + 12]:
            if t.turn > s.turn + 4:
                break
            if (
                resolution is None
                and t.turn != s.turn
                and t.side is not s.side
                and has(lx.RESOLUTION, t)
                and id(t) not in used
            ):
                resolution = t
                continue
            if resolution is not None and t.side is s.side and t.turn > resolution.turn:
                ack = has(lx.ACKNOWLEDGE, t)
                if ack is not None and not negated(t.text, ack.start()):
                    resolved = True
                    break
        if resolution is not None:
            used.add(id(resolution))
        out.append(
            Objection(
                text=s.text,
                evidence=_ev(a, s),
                category=category,
                resolved=resolved,
                resolution=resolution.text if resolution is not None else None,
                resolution_evidence=_ev(a, resolution) if resolution is not None else None,
            )
        )
    return out


def _other_side_name(a: Analysis, side: Side) -> str | None:
    other = Side.BUYER if side is Side.SELLER else Side.SELLER
    for t in a.conversation.turns:
        if t.side is other and t.speaker:
            return t.speaker
    for p in a.conversation.participants:
        if p.side is other and p.name:
            return p.name
    return None


def _next_steps(a: Analysis) -> list[NextStep]:
    out: list[NextStep] = []
    for s in a.sentences:
        if s.counterfactual:
            continue
        m = has(lx.NEXT_STEP, s)
        if m is None or negated(s.text, m.start()):
            continue
        lead = m.group(0).casefold()
        owner: str | None
        side = s.side
        if re.match(r"(?:can you|could you|you'll|you will|please)", lead):
            side = Side.BUYER if s.side is Side.SELLER else Side.SELLER
            owner = _other_side_name(a, s.side)
        elif re.match(r"(?:i'll|i will|i am going|we'll|we will|we are going)", lead):
            owner = s.speaker
        else:
            owner, side = None, Side.UNKNOWN
        frames = find_timeframes(a.conversation.text, a.anchor, start=s.start, end=s.end)
        due: date | None = frames[0].due if frames else None
        out.append(NextStep(text=s.text, evidence=_ev(a, s), owner=owner, owner_side=side, due=due))
    return out[:10]


def _style(text: str) -> str | None:
    if not text.strip():
        return None
    scores = {k: len(p.findall(text)) for k, p in _STYLE.items()}
    words = max(1, len(text.split()))
    sentences = max(1, len(re.findall(r"[.!?]+", text)))
    if words / sentences < 9:
        scores["driver"] += 2
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else None


def _stakeholders(
    a: Analysis, turn_sent: dict[int, float], objections: list[Objection]
) -> list[InferredStakeholder]:
    conv = a.conversation
    words_by: dict[str, int] = defaultdict(int)
    turns_by: dict[str, list[int]] = defaultdict(list)
    text_by: dict[str, list[str]] = defaultdict(list)
    for i, t in enumerate(conv.turns):
        k = (t.email or t.speaker or "").casefold()
        if not k:
            continue
        words_by[k] += len(t.text.split())
        turns_by[k].append(i)
        text_by[k].append(t.text)
    total_words = max(1, sum(words_by.values()))
    people: dict[str, dict[str, object]] = {}
    for part in conv.participants:
        k = (part.email or part.name or "").casefold()
        if k:
            people[k] = {
                "name": part.name,
                "email": part.email,
                "title": part.title,
                "side": part.side,
                "mentioned": False,
            }
    # self-introductions: "I'm the VP of Sales", "as the CFO"
    for s in a.sentences:
        m = re.search(r"\b(?:I'm|I am|as)\s+(?:the\s+|our\s+)?(?P<rest>.{2,50})", s.text)
        if m is None or not s.speaker:
            continue
        intro = lx.TITLE.match(m.group("rest"))
        if intro is None:
            continue
        for person in people.values():
            if person["name"] == s.speaker and not person["title"]:
                person["title"] = intro.group(0)
    roles: dict[str, list[RoleHint]] = defaultdict(list)
    scores: dict[str, list[ScoreHint]] = defaultdict(list)

    def key_for(name: str | None) -> str:
        if not name:
            return ""
        for k, p in people.items():
            if p["name"] and str(p["name"]).casefold() == name.casefold():
                return k
        k = name.casefold()
        people.setdefault(
            k, {"name": name, "email": None, "title": None, "side": Side.BUYER, "mentioned": True}
        )
        return k

    def hits(kind: str) -> list[Hit]:
        return [h for h in a.hits if h.kind == kind and h.who]

    for h in hits("authority"):
        k = key_for(h.who)
        if h.title and not people[k]["title"]:
            people[k]["title"] = h.title
        economic = any(e.sentence is h.sentence for e in hits("economic_buyer"))
        roles[k].append(
            RoleHint(
                role=StakeholderRole.DECISION_MAKER,
                confidence=h.confidence,
                evidence=_ev(a, h.sentence),
            )
        )
        if economic:
            roles[k].append(
                RoleHint(
                    role=StakeholderRole.ECONOMIC_BUYER,
                    confidence=h.confidence,
                    evidence=_ev(a, h.sentence),
                )
            )
        scores[k].append(
            ScoreHint(
                score="decision_power", value=9.0 if economic else 8.0, evidence=_ev(a, h.sentence)
            )
        )
    for h in hits("champion"):
        k = key_for(h.who)
        roles[k].append(
            RoleHint(
                role=StakeholderRole.CHAMPION, confidence=h.confidence, evidence=_ev(a, h.sentence)
            )
        )
        scores[k].append(
            ScoreHint(score="relationship_strength", value=8.0, evidence=_ev(a, h.sentence))
        )
        scores[k].append(ScoreHint(score="influence", value=7.0, evidence=_ev(a, h.sentence)))
    for o in objections:
        if o.resolved or not o.evidence.speaker:
            continue
        if re.search(
            r"\b(?:not comfortable|blocker|won't|will not|can't approve|no appetite|"
            r"not convinced|push(?:ing)? back)\b",
            o.text,
            re.I,
        ):
            k = key_for(o.evidence.speaker)
            roles[k].append(
                RoleHint(role=StakeholderRole.BLOCKER, confidence=0.5, evidence=o.evidence)
            )
    out: list[InferredStakeholder] = []
    for k, p in people.items():
        side = p["side"] if isinstance(p["side"], Side) else Side.UNKNOWN
        if side is Side.SELLER:
            continue
        title = p["title"] if isinstance(p["title"], str) else None
        hints = list(roles.get(k, []))
        for r in lx.roles_for_title(title):
            if all(h.role is not r for h in hints):
                hints.append(RoleHint(role=r, confidence=0.5))
        spoke = turns_by.get(k) or turns_by.get(str(p["name"] or "").casefold(), [])
        name_key = k if k in words_by else str(p["name"] or "").casefold()
        sentiment = None
        if spoke:
            sentiment = round(sum(turn_sent.get(i, 0.0) for i in spoke) / len(spoke), 3)
        engagement = None
        if spoke:
            share = words_by.get(name_key, 0) / total_words
            engagement = round(min(1.0, 0.3 + 0.7 * min(1.0, share * 2)), 3)
        out.append(
            InferredStakeholder(
                name=str(p["name"]) if p["name"] else None,
                email=str(p["email"]) if p["email"] else None,
                title=title,
                side=side,
                roles=tuple(hints),
                scores=tuple(scores.get(k, [])),
                sentiment=sentiment,
                engagement=engagement,
                communication_style=_style(" ".join(text_by.get(name_key, []))),
                mentioned_only=bool(p["mentioned"]),
            )
        )
    return out


def _summary(a: Analysis, objections: list[Objection], steps: list[NextStep]) -> str:
    c = a.conversation
    kind = {
        ConversationKind.CALL: "Call",
        ConversationKind.EMAIL: "Email thread",
        ConversationKind.CHAT: "Chat",
    }[c.kind]
    buyers = [p.name or p.email for p in c.participants if p.side is Side.BUYER]
    sellers = [p.name or p.email for p in c.participants if p.side is Side.SELLER]
    head = kind
    if c.subject:
        head += f" '{c.subject}'"
    if buyers or sellers:
        head += " between " + ", ".join(str(x) for x in buyers + sellers if x)
    parts = [head + "."]

    def best(kind: str) -> Hit | None:
        hs = [h for h in a.hits if h.kind == kind and h.sentence.side is not Side.SELLER]
        return max(hs, key=lambda h: h.confidence) if hs else None

    facts = []
    if (h := best("identify_pain")) is not None:
        facts.append(f"pain: {h.value}")
    if (h := best("budget")) is not None:
        facts.append(f"budget {h.value}")
    if (h := best("timeline")) is not None:
        facts.append(f"timeline {h.value}")
    if (h := best("authority")) is not None:
        facts.append(f"decision with {h.value}")
    if (h := best("champion")) is not None:
        facts.append(f"{h.value} offered to champion it")
    comps = sorted(
        n for n, ss in a.competitors.items() if any(s.side is not Side.SELLER for s in ss)
    )
    if comps:
        facts.append("also evaluating " + ", ".join(comps))
    if facts:
        parts.append("Buyer: " + "; ".join(facts) + ".")
    if objections:
        open_ = sum(not o.resolved for o in objections)
        kinds = ", ".join(sorted({o.category for o in objections}))
        parts.append(f"{len(objections)} objection(s) ({kinds}), {open_} open.")
    if steps:
        parts.append("Next: " + steps[0].text)
    return " ".join(parts)


def enrichment(a: Analysis) -> Enrichment:
    turn_sent: dict[int, float] = {}
    by_turn: dict[int, list[float]] = defaultdict(list)
    sent_of: dict[int, float] = {}
    for s in a.sentences:
        v = sentence_sentiment(s)
        sent_of[s.start] = v
        by_turn[s.turn].append(v)
    for i in range(len(a.conversation.turns)):
        vs = by_turn.get(i, [])
        turn_sent[i] = round(sum(vs) / len(vs), 3) if vs else 0.0
    objections = _objections(a)
    steps = _next_steps(a)
    moments: list[KeyMoment] = []
    seen: set[int] = set()
    for h in sorted(a.hits, key=lambda h: h.sentence.start):
        kind = _MOMENT_KINDS.get(h.kind)
        if kind is None or h.sentence.side is Side.SELLER or h.sentence.start in seen:
            continue
        seen.add(h.sentence.start)
        s = h.sentence
        moments.append(
            KeyMoment(
                text=s.text,
                evidence=_ev(a, s),
                at_seconds=s.offset,
                at=s.at,
                sentiment=sent_of.get(s.start, 0.0),
                kind=kind,
            )
        )
    for o in objections:
        if o.evidence.start not in seen:
            seen.add(o.evidence.start)
            s = next(x for x in a.sentences if x.start == o.evidence.start)
            moments.append(
                KeyMoment(
                    text=o.text,
                    evidence=o.evidence,
                    at_seconds=s.offset,
                    at=s.at,
                    sentiment=min(sent_of.get(s.start, 0.0), -0.3),
                    kind="objection",
                )
            )
    moments.sort(key=lambda m: m.evidence.start)
    buyer_turns = [
        turn_sent[i] for i, t in enumerate(a.conversation.turns) if t.side is not Side.SELLER
    ]
    overall = round(sum(buyer_turns) / len(buyer_turns), 3) if buyer_turns else 0.0
    people = _stakeholders(a, turn_sent, objections)
    buyer_text = " ".join(t.text for t in a.conversation.turns if t.side is Side.BUYER)
    return Enrichment(
        summary=_summary(a, objections, steps),
        key_moments=tuple(moments[:MAX_MOMENTS]),
        objections=tuple(objections),
        next_steps=tuple(steps),
        turn_sentiment=tuple(TurnSentiment(turn=i, sentiment=v) for i, v in turn_sent.items()),
        sentiment=overall,
        stakeholders=tuple(people),
        communication_style=_style(buyer_text),
    )
