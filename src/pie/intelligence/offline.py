"""The offline extractor: rules, lexicons and parsers, no network (the default backend).

The conversation is cut into sentences, each tagged with its speaker and side (buyer, seller,
unknown), whether it is a question, a counterfactual ("if we had budget..."), or conditional.
Each qualification field and signal has a detector over those sentences; a cue counts only
when it is not negated in its clause, and mostly only when the buyer says it (a seller's claim
about the buyer's budget is not the buyer's budget). Confidences are fixed per rule strength
and combined with a noisy-or for the opportunity confidence.

Money is read by ``money.py`` (price-parser), dates by ``dates.py`` (dateparser anchored at the
conversation date), names with nameparser, competitors and products with rapidfuzz for
misspellings; enrichment (summary, moments, objections, next steps, sentiment, stakeholders)
is in ``enrich.py`` and reuses this analysis.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from nameparser import HumanName

from pie.domain.intelligence import (
    Conversation,
    Detection,
    Evidence,
    Extraction,
    Qualification,
    QualificationField,
    Side,
    Signal,
    SignalKind,
    enforce_verbatim,
)
from pie.intelligence import lexicon as lx
from pie.intelligence.dates import Timeframe, find_timeframes
from pie.intelligence.lexicon import ExtractorConfig
from pie.intelligence.money import Money, find_money

# A sentence ends at . ! or ? followed by a space or the end, or at a line break; a dot inside
# a number or an abbreviation ("€45.000", "e.g.x") does not end it, nor one after an honorific
# ("Mr. Brandt", "Dr. Amari").
_SENTENCE = re.compile(
    r"(?:(?<![A-Za-z])(?:Mr|Mrs|Ms|Mx|Dr|Prof)\.[ \t]+|[^.!?\n]|[.!?]+(?![\s.!?]|$))+"
    r"(?:[.!?]+|(?=\n)|$)"
)
_SIDE_WEIGHT = {Side.BUYER: 1.0, Side.UNKNOWN: 0.75, Side.SELLER: 0.0}
_CAPWORD = re.compile(r"\b[A-Z][\w.-]{3,}\b")


class TextIndex:
    """Every match of a pattern over the whole text, found once and looked up by sentence:
    one regex pass per pattern per conversation instead of one per sentence."""

    __slots__ = ("_cache", "low", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.low = lx.lower(text)
        self._cache: dict[re.Pattern[str], tuple[list[re.Match[str]], list[int]]] = {}

    def within(self, pattern: re.Pattern[str], start: int, end: int) -> list[re.Match[str]]:
        got = self._cache.get(pattern)
        if got is None:
            ms = list(pattern.finditer(self.low if pattern in lx.LOWERED else self.text))
            got = (ms, [m.start() for m in ms])
            self._cache[pattern] = got
        ms, starts = got
        i = bisect_left(starts, start)
        out = []
        while i < len(ms) and starts[i] < end:
            if ms[i].end() <= end:
                out.append(ms[i])
            i += 1
        return out


@dataclass(slots=True)
class Cue:
    """A pattern's match inside a sentence, in the sentence's own coordinates."""

    s: int
    e: int
    txt: str

    def start(self) -> int:
        return self.s

    def end(self) -> int:
        return self.e

    def group(self, _: int = 0) -> str:
        return self.txt


@dataclass(slots=True)
class Sentence:
    index: TextIndex
    start: int
    end: int
    text: str
    turn: int
    side: Side
    speaker: str | None
    question: bool
    counterfactual: bool
    conditional: bool
    offset: float | None = None
    at: datetime | None = None


@dataclass(slots=True)
class Hit:
    """One thing a detector found: the sentence, the claim and how sure it is."""

    kind: str  # a qualification field, a signal kind, "objection", "next_step", ...
    sentence: Sentence
    value: str
    confidence: float
    amount: Decimal | None = None
    currency: str | None = None
    due: date | None = None
    who: str | None = None  # a person the claim is about
    title: str | None = None


@dataclass(slots=True)
class Analysis:
    conversation: Conversation
    sentences: list[Sentence]
    anchor: date
    hits: list[Hit] = field(default_factory=list)
    competitors: dict[str, list[Sentence]] = field(default_factory=dict)
    products: dict[str, list[Sentence]] = field(default_factory=dict)
    product_names: dict[str, str] = field(default_factory=dict)  # alias -> product line

    def of(self, kind: str) -> list[Hit]:
        return [h for h in self.hits if h.kind == kind]


# --------------------------------------------------------------------------------------------
# Sentences


def sentences(conv: Conversation) -> list[Sentence]:
    out: list[Sentence] = []
    text = conv.text
    turns = conv.turns
    index = TextIndex(text)
    if not turns:
        return out
    for i, t in enumerate(turns):
        for m in _SENTENCE.finditer(text, t.start, t.end):
            raw = m.group(0)
            lead = len(raw) - len(raw.lstrip())
            body = raw.strip()
            if len(body) < 3 or not any(c.isalpha() for c in body):
                continue
            start = m.start() + lead
            out.append(
                Sentence(
                    index=index,
                    start=start,
                    end=start + len(body),
                    text=body,
                    turn=i,
                    side=t.side,
                    speaker=t.speaker,
                    question=body.endswith("?"),
                    counterfactual=bool(index.within(lx.COUNTERFACTUAL, start, start + len(body))),
                    conditional=bool(index.within(lx.CONDITIONAL, start, start + len(body))),
                    offset=t.offset_seconds,
                    at=t.at,
                )
            )
    return out


def negated(text: str, at: int) -> bool:
    """Whether the cue at ``text[at:]`` is negated within its clause (up to ~6 words back)."""
    clause_start = 0
    for m in lx.CLAUSE_BREAK.finditer(text, 0, at):
        clause_start = m.end()
    window = lx.lower(text[max(clause_start, at - 40) : at])
    if lx.NOT_NEGATION.search(window):
        window = lx.NOT_NEGATION.sub(" ", window)
    return bool(lx.NEGATION.search(window)) or bool(
        re.match(r"\s*(?:n't|not)\b", text[at : at + 8], re.I)
    )


def cues(pattern: re.Pattern[str], s: Sentence) -> list[Cue]:
    """Every match of ``pattern`` in ``s``."""
    return [
        Cue(m.start() - s.start, m.end() - s.start, s.index.text[m.start() : m.end()])
        for m in s.index.within(pattern, s.start, s.end)
    ]


def has(pattern: re.Pattern[str], s: Sentence) -> Cue | None:
    """The first match of ``pattern`` in ``s``, negated or not."""
    ms = s.index.within(pattern, s.start, s.end)
    if not ms:
        return None
    m = ms[0]
    return Cue(m.start() - s.start, m.end() - s.start, s.index.text[m.start() : m.end()])


def _first(pattern: re.Pattern[str], s: Sentence) -> Cue | None:
    """The first match of ``pattern`` in ``s`` that is not negated."""
    for m in cues(pattern, s):
        if not negated(s.text, m.start()):
            return m
    return None


def _weight(s: Sentence) -> float:
    """How much a buyer-side claim in ``s`` counts (0: not at all)."""
    w = _SIDE_WEIGHT[s.side]
    if s.counterfactual or w == 0.0:
        return 0.0
    if s.conditional:
        w *= 0.75
    return w


def _trim(text: str, limit: int = 160) -> str:
    t = " ".join(text.split())
    return t if len(t) <= limit else t[: limit - 1].rsplit(" ", 1)[0] + "…"


# --------------------------------------------------------------------------------------------
# People


def person_in(text: str, known: Sequence[str] = ()) -> str | None:
    """The first person's name in ``text``: a participant named there (full or first name),
    else a capitalised two- or three-word name nameparser reads as first + last."""
    low = text.casefold()
    honorific = lx.HONORIFIC_NAME.search(text)
    for name in known:
        if name and name.casefold() in low:
            return name
    for name in known:
        first = name.split()[0] if name else ""
        if len(first) > 2 and re.search(rf"\b{re.escape(first)}\b", text):
            return name
    if honorific is not None:
        return honorific.group(0)
    for m in lx.PERSON.finditer(text):
        words = m.group(0).split()
        while words and words[0].casefold() in lx.NOT_NAMES:
            words = words[1:]
        while words and words[-1].casefold() in lx.NOT_NAMES:
            words = words[:-1]
        if len(words) < 2 or any(w.casefold() in lx.NOT_NAMES for w in words):
            continue
        candidate = " ".join(words)
        if lx.TITLE.fullmatch(candidate):
            continue
        h = HumanName(candidate)
        if h.first and h.last:
            return candidate
    return None


def title_in(text: str) -> str | None:
    m = lx.TITLE.search(text)
    if m:
        return m.group(0).strip()
    low = lx.LOWER_TITLE.search(lx.lower(text))
    if low:
        t = low.group("t")
        return t.upper() if len(t) <= 4 and t not in ("boss", "board") else t
    return None


# --------------------------------------------------------------------------------------------
# Detectors


def _budget(a: Analysis, s: Sentence, money: list[Money]) -> None:
    w = _weight(s)
    if w == 0 or s.question:
        return
    if has(lx.BUDGET_NEGATIVE, s):
        return
    available = _first(lx.BUDGET_AVAILABLE, s)
    amount_cue = available or _first(lx.BUDGET_AMOUNT, s)
    if amount_cue is None:
        return
    m = _nearest_money(money, s, amount_cue.start())
    if m is None and available is None:
        return
    if m is not None and available is None and has(lx.PRICE_TALK, s):
        return  # the buyer repeating our price is not their budget
    if m is not None and has(lx.SMALL_TALK, s) and available is None:
        return
    if m is not None:
        conf, value = (
            (0.85 if available is not None or has(lx.BUDGET_AMOUNT, s) else 0.6),
            m.describe(),
        )
    else:
        conf, value = 0.6, _trim(s.text, 100)
    a.hits.append(
        Hit(
            kind="budget",
            sentence=s,
            value=value,
            confidence=round(conf * w, 3),
            amount=m.amount if m else None,
            currency=m.currency if m else None,
        )
    )


def _nearest_money(money: list[Money], s: Sentence, cue: int) -> Money | None:
    inside = [m for m in money if s.start <= m.start < s.end]
    if not inside:
        return None
    return min(inside, key=lambda m: abs(m.start - (s.start + cue)))


def _timeline(a: Analysis, s: Sentence, frames: list[Timeframe]) -> None:
    w = _weight(s)
    if w == 0 or s.question or has(lx.SMALL_TALK, s):
        return
    inside = [f for f in frames if s.start <= f.start < s.end]
    cue = _first(lx.TIMELINE_CUE, s)
    urgent = _first(lx.URGENCY, s)
    if cue is None and inside and (urgent is not None or _asked_when(a, s)):
        cue = urgent or Cue(0, 0, "")  # the answer to "when?", or a date said to be urgent
    if not inside:
        if (
            urgent is not None
            and cue is not None
            and re.search(r"\b(?:asap|as soon as possible|immediately|right away)\b", s.text, re.I)
        ):
            a.hits.append(
                Hit(
                    kind="timeline",
                    sentence=s,
                    value="as soon as possible",
                    confidence=round(0.5 * w, 3),
                )
            )
        return
    if cue is None:
        return
    cue_at = [s.start + c.start() for c in cues(lx.TIMELINE_CUE, s)] or [s.start + cue.start()]

    def score(f: Timeframe) -> float:
        near = min(abs(f.start - c) for c in cue_at)
        before = a.conversation.text[max(s.start, f.start - 14) : f.start].casefold()
        prep = any(w in before for w in ("by ", "before ", "until ", "no later than ", "on "))
        return near - 25 * f.specificity - (15 if prep else 0)

    f = min(inside, key=score)
    if negated(s.text, f.start - s.start) and not re.search(r"\bno later than\b", s.text, re.I):
        return
    if f.due < a.anchor:
        return  # the past: history, not a timeline
    conf = 0.7 if urgent is not None else 0.6
    if f.specificity >= 2:
        conf += 0.05
    if _first(lx.TIMELINE_DECISIVE, s) is not None:
        conf += 0.05  # the date of the signature or go-live, not of a step on the way
    a.hits.append(
        Hit(
            kind="timeline",
            sentence=s,
            value=f"{f.due.isoformat()} ({f.text})",
            confidence=round(conf * w, 3),
            due=f.due,
        )
    )


_WHEN = re.compile(r"\b(?:when|timeline|timing|timeframe|how soon|start|go live)\b", re.I)


def _asked_when(a: Analysis, s: Sentence) -> bool:
    """Whether ``s`` starts a turn that answers the other side's question about timing."""
    i = a.sentences.index(s)
    if i == 0 or a.sentences[i - 1].turn == s.turn:
        return False
    prev = a.sentences[i - 1]
    return prev.question and prev.side is not s.side and bool(_WHEN.search(prev.text))


def vague_deferral(text: str, known: Sequence[str] = ()) -> bool:
    """Whether ``text`` defers to others nobody names ("I will check with the team", "let me
    run it by my boss"): evidence that someone else decides, never who has authority."""
    low = lx.lower(text)
    if not lx.DEFERRAL.search(low) or not lx.VAGUE_OTHERS.search(low):
        return False
    if person_in(text, known) is not None:
        return False
    title = title_in(text)
    return title is None or title.casefold() in _VAGUE_TITLES


_VAGUE_TITLES = frozenset({"boss", "manager", "board"})


def _authority(a: Analysis, s: Sentence, known: Sequence[str]) -> None:
    if s.side is Side.SELLER or s.counterfactual or s.question or has(lx.UNKNOWN_WHO, s):
        return
    if vague_deferral(s.text, [k for k in known if k != s.speaker]):
        return
    for m in cues(lx.AUTHORITY, s):
        neg = negated(s.text, m.start())
        who = person_in(s.text, known)
        title = title_in(s.text)
        if who is None and title is None and _PRONOUN.search(s.text[: m.start()]):
            who, title = _recent_person(a, s, known)
        self_ref = lx.SELF.search(s.text[max(0, m.start() - 40) : m.start()]) is not None
        if neg and who is None and title is None:
            continue  # "I don't make the call" with nobody named
        if who is None and title is None:
            if self_ref and s.speaker:
                who = s.speaker
            else:
                continue
        value = f"{who} ({title})" if who and title else (who or title or "")
        w = _SIDE_WEIGHT[s.side] * (0.75 if s.conditional else 1.0)
        conf = round((0.8 if who else 0.65) * w, 3)
        a.hits.append(
            Hit(kind="authority", sentence=s, value=value, confidence=conf, who=who, title=title)
        )
        if has(lx.ECONOMIC, s):
            a.hits.append(
                Hit(
                    kind="economic_buyer",
                    sentence=s,
                    value=value,
                    confidence=round(conf * 0.95, 3),
                    who=who,
                    title=title,
                )
            )
        return


_PRONOUN = re.compile(r"\b(?:she|he|they)\b", re.I)


def _recent_person(a: Analysis, s: Sentence, known: Sequence[str]) -> tuple[str | None, str | None]:
    """The person (or else the title) named last in the two sentences before ``s`` of the
    same side (for "she", "he")."""
    i = a.sentences.index(s)
    for prev in reversed(a.sentences[max(0, i - 2) : i]):
        if prev.side is Side.SELLER:
            continue
        who = person_in(prev.text, known)
        if who is not None:
            return who, title_in(prev.text)
        title = title_in(prev.text)
        if title is not None and title.casefold() not in _VAGUE_TITLES:
            return None, title
    return None, None


def _champion(a: Analysis, s: Sentence, known: Sequence[str]) -> None:
    if s.side is Side.SELLER or s.counterfactual or s.question:
        return
    w = _SIDE_WEIGHT[s.side]
    m = _first(lx.CHAMPION_SELF, s)
    if m is not None and s.speaker:
        a.hits.append(
            Hit(
                kind="champion",
                sentence=s,
                value=s.speaker,
                confidence=round(0.8 * w, 3),
                who=s.speaker,
            )
        )
        return
    m = _first(lx.CHAMPION_OTHER, s)
    if m is not None:
        who = person_in(s.text[: m.start()], known)
        if who:
            a.hits.append(
                Hit(kind="champion", sentence=s, value=who, confidence=round(0.7 * w, 3), who=who)
            )


def _pain(a: Analysis, s: Sentence) -> None:
    w = _weight(s)
    if w == 0 or s.question or has(lx.SMALL_TALK, s):
        return
    pain = _first(lx.PAIN, s)
    if pain is not None and pain.group(0).casefold().startswith("take") and has(lx.PROCESS, s):
        pain = None  # "our security review takes three weeks": a step's length, not a pain
    if pain is not None and has(lx.NOT_PAIN, s):
        pain = None  # "sorry for the slow reply"
    need = _first(lx.NEED, s)
    if need is not None and has(lx.NEED_TIMELINE, s):
        need = None  # "we need it live by June": the timeline
    metric = _first(lx.METRIC, s)
    goal = _first(lx.GOAL, s)
    if pain is not None:
        a.hits.append(
            Hit(
                kind="identify_pain", sentence=s, value=_trim(s.text), confidence=round(0.75 * w, 3)
            )
        )
        a.hits.append(
            Hit(
                kind="need",
                sentence=s,
                value=_trim(s.text),
                confidence=round((0.7 if need else 0.55) * w, 3),
            )
        )
        if metric is not None:
            a.hits.append(
                Hit(kind="metrics", sentence=s, value=_trim(s.text), confidence=round(0.7 * w, 3))
            )
            a.hits.append(
                Hit(
                    kind=SignalKind.QUANTIFIED_PAIN.value,
                    sentence=s,
                    value=metric.group(0),
                    confidence=round(0.5 * w, 3),
                )
            )
        return
    if need is not None and not has(lx.SMALL_TALK, s):
        a.hits.append(
            Hit(kind="need", sentence=s, value=_trim(s.text), confidence=round(0.6 * w, 3))
        )
    if metric is not None and goal is not None:
        a.hits.append(
            Hit(kind="metrics", sentence=s, value=_trim(s.text), confidence=round(0.6 * w, 3))
        )


def _criteria_process(a: Analysis, s: Sentence) -> None:
    if s.counterfactual:
        return
    w = _SIDE_WEIGHT[s.side] * (0.75 if s.conditional else 1.0)
    if s.side is not Side.SELLER and not s.question:
        m = _first(lx.CRITERIA, s)
        if m is not None:
            a.hits.append(
                Hit(
                    kind="decision_criteria",
                    sentence=s,
                    value=_trim(s.text),
                    confidence=round(0.7 * w, 3),
                )
            )
    m = _first(lx.PROCESS, s)
    if m is None:
        return
    steps = {c.group(0).casefold() for c in cues(lx.PROCESS, s) if not negated(s.text, c.start())}
    if steps <= {"pilot", "poc", "proof of concept"} and has(lx.PROCESS_OUTCOME, s):
        return  # "send me the pilot numbers": the outcome of a step already taken
    if s.side is Side.SELLER:
        # the seller describing the buyer's process counts a little, and never as a signal
        a.hits.append(
            Hit(kind="decision_process", sentence=s, value=_trim(s.text), confidence=0.35)
        )
        return
    if s.question:
        return
    conf = 0.8 if len(steps) > 1 else 0.7  # several named steps: a process, described
    a.hits.append(
        Hit(kind="decision_process", sentence=s, value=_trim(s.text), confidence=round(conf * w, 3))
    )


def _mentions(a: Analysis, s: Sentence, cfg: ExtractorConfig) -> None:
    found: set[str] = set()
    if cfg.competitor_pattern is not None:
        for m in cues(cfg.competitor_pattern, s):
            name = next(
                (c for c in cfg.competitors if c.casefold() == m.group(0).casefold()),
                m.group(0),
            )
            found.add(name)
    prods: set[str] = set()
    if cfg.product_pattern is not None:
        for m in cues(cfg.product_pattern, s):
            prods.add(cfg.product_names.get(m.group(0).casefold(), m.group(0)))
    if cfg.competitors or cfg.products:
        for m in cues(_CAPWORD, s):
            word = m.group(0)
            if word.casefold() in lx.NOT_NAMES:
                continue
            if not found and (c := cfg.fuzzy_competitor(word)) is not None:
                found.add(c)
            if not prods and (p := cfg.fuzzy_product(word)) is not None:
                prods.add(p)
    for c in found:
        a.competitors.setdefault(c, []).append(s)
    for p in prods:
        a.products.setdefault(p, []).append(s)


def _competition(a: Analysis) -> None:
    for name, sents in a.competitors.items():
        buyer = [s for s in sents if s.side is not Side.SELLER and not s.counterfactual]
        if not buyer:
            continue  # a competitor named only by the seller is not an evaluation
        best: Hit | None = None
        for s in buyer:
            at = s.text.casefold().find(name.casefold())
            if at >= 0 and negated(s.text, at):
                continue  # "we're not looking at Gong"
            cue = _first(lx.EVALUATION, s)
            conf = (0.6 if cue is not None else 0.45) * _SIDE_WEIGHT[s.side]
            if best is None or conf > best.confidence:
                best = Hit(
                    kind=SignalKind.COMPETITIVE_EVALUATION.value,
                    sentence=s,
                    value=name,
                    confidence=round(conf, 3),
                )
        if best is not None:
            a.hits.append(best)
    if not a.of(SignalKind.COMPETITIVE_EVALUATION.value):
        for s in a.sentences:
            if s.side is Side.SELLER or s.counterfactual or s.question:
                continue
            if _first(lx.GENERIC_COMPETITION, s) is not None:
                a.hits.append(
                    Hit(
                        kind=SignalKind.COMPETITIVE_EVALUATION.value,
                        sentence=s,
                        value="other vendors",
                        confidence=round(0.45 * _SIDE_WEIGHT[s.side], 3),
                    )
                )
                break


_EXISTING = re.compile(
    r"\b(?:separate(?:ly)? from|apart from|besides|in addition to|on top of|happy with|"
    r"already (?:use|have|run)|beyond)\b[^.?!]{0,30}$",
    re.I,
)


def _interest(a: Analysis, s: Sentence) -> None:
    w = _weight(s)
    if w == 0:
        return
    m = _first(lx.INTEREST, s)
    named = [p for p, ss in a.products.items() if s in ss and not _existing(a, s, p)]
    if m is None and not named:
        return
    conf = 0.6 if named and m is not None else 0.5 if named else 0.45
    a.hits.append(
        Hit(
            kind=SignalKind.PRODUCT_INTEREST.value,
            sentence=s,
            value=named[0] if named else _trim(s.text, 80),
            confidence=round(conf * w, 3),
        )
    )


def _existing(a: Analysis, s: Sentence, product: str) -> bool:
    """Whether ``product`` is named in ``s`` as something the buyer already has."""
    cfg_names = [n for n, line in a.product_names.items() if line == product]
    low = s.text.casefold()
    for n in cfg_names:
        i = low.find(n)
        if i >= 0 and (_EXISTING.search(s.text[:i]) or negated(s.text, i)):
            return True
    return False


# --------------------------------------------------------------------------------------------
# Assembling


def analyse(conv: Conversation, cfg: ExtractorConfig) -> Analysis:
    anchor = (conv.occurred_at or datetime.now(UTC)).date()
    sents = sentences(conv)
    a = Analysis(conversation=conv, sentences=sents, anchor=anchor, product_names=cfg.product_names)
    text = conv.text
    money = find_money(text)
    frames = find_timeframes(text, anchor, fy_start_month=cfg.fiscal_year_start_month)
    known = [p.name for p in conv.participants if p.name]
    for s in sents:
        if s.side is not Side.SELLER and lx.PERSON.search(s.text):
            who = person_in(s.text)
            if who is not None and who not in known:
                known.append(who)
    for s in sents:
        _mentions(a, s, cfg)
        _budget(a, s, money)
        _timeline(a, s, frames)
        _authority(a, s, known)
        _champion(a, s, known)
        _pain(a, s)
        _criteria_process(a, s)
    for s in sents:
        _interest(a, s)
    _competition(a)
    if a.of("identify_pain") and not a.of(SignalKind.QUANTIFIED_PAIN.value):
        goals = [h for h in a.of("metrics") if h.sentence.side is not Side.SELLER]
        if goals:
            g = max(goals, key=lambda h: h.confidence)
            a.hits.append(
                Hit(
                    kind=SignalKind.QUANTIFIED_PAIN.value,
                    sentence=g.sentence,
                    value=g.value,
                    confidence=round(0.45, 3),
                )
            )
    return a


def _evidence(conv: Conversation, s: Sentence) -> Evidence:
    return Evidence(
        quote=s.text,
        start=s.start,
        end=s.end,
        activity_id=conv.activity_id,
        speaker=s.speaker,
        side=s.side,
        at=s.at or conv.occurred_at,
    )


_FIELD_KINDS = (
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
)


def qualification(a: Analysis) -> Qualification:
    fields: dict[str, QualificationField] = {}
    for name in _FIELD_KINDS:
        hits = a.of(name)
        if not hits:
            continue
        best = max(hits, key=lambda h: (h.confidence, h.amount is not None, -h.sentence.start))
        if best.confidence < 0.4:
            continue  # a seller's description (0.35) is never the buyer's qualification
        fields[name] = QualificationField(
            value=best.value,
            evidence=_evidence(a.conversation, best.sentence),
            confidence=min(1.0, best.confidence),
            amount=best.amount,
            currency=best.currency,
            due=best.due,
        )
    return Qualification.model_validate(fields)


#: Which hits make which signals (beyond the hits already named by a signal kind).
_SIGNAL_FROM = {
    SignalKind.BUDGET_MENTION: ("budget",),
    SignalKind.TIMELINE_URGENCY: ("timeline",),
    SignalKind.BUYING_PROCESS: ("decision_process", "authority"),
}
#: How much each signal kind counts towards the opportunity confidence.
_SIGNAL_SCALE = {
    SignalKind.BUDGET_MENTION: 0.9,
    SignalKind.TIMELINE_URGENCY: 0.85,
    SignalKind.BUYING_PROCESS: 0.85,
    SignalKind.QUANTIFIED_PAIN: 0.75,
    SignalKind.COMPETITIVE_EVALUATION: 0.75,
    SignalKind.PRODUCT_INTEREST: 0.7,
}


def detection(a: Analysis, q: Qualification) -> Detection:
    conv = a.conversation
    signals: list[Signal] = []
    for kind in SignalKind:
        names = (kind.value, *_SIGNAL_FROM.get(kind, ()))
        hits = [h for h in a.hits if h.kind in names and h.sentence.side is not Side.SELLER]
        if kind is SignalKind.TIMELINE_URGENCY:
            hits = [h for h in hits if h.due is None or (h.due - a.anchor).days <= 400]
        if not hits:
            continue
        hits.sort(key=lambda h: -h.confidence)
        best = hits[0]
        conf = best.confidence
        soon = best.due is not None and (best.due - a.anchor).days <= 120
        if kind is SignalKind.TIMELINE_URGENCY and soon:
            conf += 0.1
        if len({h.sentence.start for h in hits}) > 1:
            conf += 0.05  # said more than once
        seen: set[int] = set()
        evs = []
        for h in hits:
            if h.sentence.start not in seen:
                seen.add(h.sentence.start)
                evs.append(_evidence(conv, h.sentence))
            if len(evs) == 3:
                break
        signals.append(
            Signal(
                kind=kind,
                confidence=round(min(conf, 0.95), 3),
                evidence=tuple(evs),
                value=best.value,
            )
        )
    # the opportunity confidence: noisy-or of the signals and of qualification support
    miss = 1.0
    for s in signals:
        miss *= 1.0 - s.confidence * _SIGNAL_SCALE[s.kind]
    support = {"need": 0.2, "champion": 0.3, "economic_buyer": 0.15, "decision_criteria": 0.15}
    for name, weight in support.items():
        f = q.get(name)
        if f is not None and f.evidence is not None and f.evidence.side is not Side.SELLER:
            miss *= 1.0 - weight * f.confidence
    kinds = {s.kind for s in signals}
    confidence = 1.0 - miss
    if len(kinds) < 2:
        confidence = min(confidence, 0.78)  # one kind of signal never creates a deal
    buyer_spoke = any(s.side is not Side.SELLER for s in a.sentences)
    if not buyer_spoke:
        confidence = min(confidence, 0.3)
    product = None
    if a.products:
        interest = [h for h in a.of(SignalKind.PRODUCT_INTEREST.value) if h.value in a.products]
        fresh = {p: [x for x in ss if not _existing(a, x, p)] for p, ss in a.products.items()}
        product = max(
            a.products,
            key=lambda p: (
                any(h.value == p for h in interest),
                sum(x.side is not Side.SELLER for x in fresh[p]),
                len(fresh[p]),
                max(x.start for x in a.products[p]),
            ),
        )
    budget = q.budget
    timeline = q.timeline
    competitors = tuple(
        sorted(n for n, ss in a.competitors.items() if any(s.side is not Side.SELLER for s in ss))
    )
    return Detection(
        signals=tuple(signals),
        confidence=round(min(confidence, 0.99), 3),
        product_line=product,
        timeline=timeline.due if timeline is not None else None,
        amount=budget.amount if budget is not None else None,
        currency=budget.currency if budget is not None else None,
        competitors=competitors,
    )


class OfflineExtractor:
    """The default ``Extractor``: rules and lexicons, deterministic, no network."""

    name = "offline"

    def __init__(self, config: ExtractorConfig | None = None) -> None:
        self.config = config or ExtractorConfig()

    def extract_sync(self, conversation: Conversation) -> Extraction:
        from pie.intelligence.enrich import enrichment

        a = analyse(conversation, self.config)
        q = qualification(a)
        det = detection(a, q)
        en = enrichment(a)
        out = Extraction(qualification=q, detection=det, enrichment=en, backend=self.name)
        return enforce_verbatim(conversation.text, out)

    async def extract(self, conversation: Conversation) -> Extraction:
        return self.extract_sync(conversation)

    async def aclose(self) -> None:
        """Nothing to release."""


def field_hits(a: Analysis, kinds: Iterable[str]) -> list[Hit]:
    wanted = set(kinds)
    return [h for h in a.hits if h.kind in wanted]
