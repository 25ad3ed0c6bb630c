"""Conversations in: plain text (call transcripts, email threads, chat logs), Markdown with
speaker turns, and JSON with speakers, timestamps, direction and participant emails.

Every parser returns a ``Conversation`` whose ``text`` is the text evidence spans point into
and whose turns carry their own spans in it. For JSON the text is rendered from the turns
("Speaker: words" lines), so quotes stay verbatim against what PIE stores.

Bad input raises ``InvalidInput``: empty, larger than ``MAX_BYTES``, binary or not UTF-8,
malformed JSON or JSON of the wrong shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime
from itertools import pairwise
from typing import Any, Literal
from uuid import UUID

from pie.domain.errors import InvalidInput
from pie.domain.intelligence import (
    Conversation,
    ConversationKind,
    Direction,
    Participant,
    Side,
    Turn,
)
from pie.intelligence.lexicon import lower, rx

MAX_BYTES = 5 * 1024 * 1024
Format = Literal["auto", "text", "markdown", "json"]

# A transcript line: "[00:12] Name: words", "00:01:02 Name: words", "Name (00:12): words",
# "Name: words". The speaker label is short and starts with a letter.
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?"
_SPEAKER = r"[^\W\d_][\w .,'()&/-]{0,60}?"
_TRANSCRIPT_LINE = re.compile(
    rf"^[ \t]*(?:\[(?P<t1>{_CLOCK})\][ \t]*|(?P<t2>{_CLOCK})[ \t]+)?"
    rf"(?P<who>{_SPEAKER})(?:[ \t]*[\[(](?P<t3>{_CLOCK})[\])])?[ \t]*:[ \t]+(?P<rest>\S.*)$"
)
# Markdown turns: "**Name:** words", "**Name**: words", "- **Name**: words", "> **Name:** words"
_MD_LINE = re.compile(
    rf"^[ \t]*(?:[-*>][ \t]+)?\*\*(?P<who>{_SPEAKER})(?:[ \t]*[\[(](?P<t3>{_CLOCK})[\])])?"
    r"(?::\*\*|\*\*[ \t]*:)[ \t]*(?P<rest>\S.*)$"
)
_MD_HEADING = re.compile(rf"^[ \t]*#{{2,6}}[ \t]+(?P<who>{_SPEAKER})[ \t]*:?[ \t]*$")
_HEADER = re.compile(r"^(?P<key>From|To|Cc|Date|Sent|Subject):[ \t]*(?P<value>.*)$", re.I)
_QUOTE_SPLIT = re.compile(
    r"^(?:-{2,}[ \t]*(?:Original|Forwarded) [Mm]essage[ \t]*-{2,}|On .{5,200} wrote:)[ \t]*$",
    re.M,
)
_JSON_START = re.compile(r"\s*(?:\{|\[\s*(?:[{\"\]]|$))")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Labels that are not speakers ("Note: ...", "Subject: ...", "Re: ...").
_NOT_SPEAKERS = frozenset(
    {
        "note",
        "notes",
        "subject",
        "re",
        "fw",
        "fwd",
        "date",
        "time",
        "agenda",
        "action items",
        "summary",
        "ps",
        "p.s",
        "http",
        "https",
        "from",
        "to",
        "cc",
        "sent",
        "attendees",
        "participants",
        "next steps",
        "update",
        "question",
        "answer",
        "q",
        "a",
    }
)
_SELLER_LABEL = re.compile(
    r"\b(rep|ae|sdr|bdr|account executive|sales|seller|vendor|csm|solutions? engineer|se)\b", re.I
)
_BUYER_LABEL = re.compile(r"\b(buyer|customer|client|prospect)\b", re.I)


def decode(data: bytes | str, *, source: str = "conversation") -> str:
    """``data`` as text, or ``InvalidInput`` when it is empty, too large, binary or not
    UTF-8."""
    if isinstance(data, str):
        if len(data) > MAX_BYTES and len(data.encode("utf-8")) > MAX_BYTES:
            raise InvalidInput(f"larger than {MAX_BYTES // (1024 * 1024)} MB", source=source)
        text = data
    else:
        if len(data) > MAX_BYTES:
            raise InvalidInput(
                f"{len(data):,} bytes is larger than {MAX_BYTES // (1024 * 1024)} MB",
                source=source,
            )
        if b"\x00" in data[:8192]:
            raise InvalidInput("binary data, not text", source=source)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise InvalidInput(
                f"not UTF-8 text (byte {err.start} cannot be decoded)", source=source
            ) from None
    if "\x00" in text[:8192]:
        raise InvalidInput("binary data, not text", source=source)
    if not text.strip():
        raise InvalidInput("empty conversation", source=source)
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(slots=True)
class _Draft:
    speaker: str | None
    email: str | None
    start: int
    end: int
    offset: float | None = None
    at: datetime | None = None
    side: Side = Side.UNKNOWN
    extra: list[tuple[int, int]] = field(default_factory=list)


def _seconds(clock: str | None) -> float | None:
    if not clock:
        return None
    parts = [int(p) for p in clock.split(":")]
    out = 0
    for p in parts:
        out = out * 60 + p
    return float(out)


def _clean_speaker(who: str) -> str | None:
    w = who.strip().strip("*").strip()
    if not w or w.casefold().rstrip(".") in _NOT_SPEAKERS or len(w.split()) > 6:
        return None
    return w


def _lines(text: str) -> Iterable[tuple[int, str]]:
    pos = 0
    for line in text.split("\n"):
        yield pos, line
        pos += len(line) + 1


def _turns_from_lines(text: str, pattern: re.Pattern[str], base: int = 0) -> list[_Draft]:
    """Speaker turns by a line pattern; lines that do not match continue the current turn."""
    drafts: list[_Draft] = []
    for pos, line in _lines(text):
        m = pattern.match(line)
        who = _clean_speaker(m.group("who")) if m else None
        if m and who is not None:
            clock = m.groupdict().get("t1") or m.groupdict().get("t2") or m.group("t3")
            start = base + pos + m.start("rest")
            drafts.append(
                _Draft(speaker=who, email=None, start=start, end=base + pos + len(line.rstrip()))
            )
            drafts[-1].offset = _seconds(clock)
        elif drafts and line.strip():
            s = len(line) - len(line.lstrip())
            drafts[-1].extra.append((base + pos + s, base + pos + len(line.rstrip())))
    for d in drafts:
        if d.extra:
            d.end = d.extra[-1][1]
    return drafts


def _parse_date(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        dt = None
    if dt is None:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _parse_email(text: str) -> tuple[list[_Draft], list[Participant], str | None, datetime | None]:
    """An email or a thread of them: one turn per message, headers give the speaker."""
    bounds = [0, *(m.start() for m in _QUOTE_SPLIT.finditer(text)), len(text)]
    drafts: list[_Draft] = []
    people: dict[str, Participant] = {}
    subject: str | None = None
    when: datetime | None = None
    for a, b in pairwise(bounds):
        sender: tuple[str, str] | None = None
        pos = a
        wrote = _QUOTE_SPLIT.match(text, a, b)
        if wrote:
            pos = min(wrote.end() + 1, b)
            m = re.match(r"On .*?,\s*(?P<who>[^,<]+?)\s*(?:<(?P<em>[^>]+)>)?\s+wrote:", wrote[0])
            if m:
                sender = (m.group("who").strip(), (m.group("em") or "").strip())
        # headers: consecutive header lines (blank lines before them are skipped)
        while pos < b:
            nl = text.find("\n", pos, b)
            line_end = b if nl < 0 else nl
            line = text[pos:line_end]
            h = _HEADER.match(line)
            if h is None and line.strip():
                break
            pos = line_end + 1
            if h is None:
                continue
            key, value = h.group("key").casefold(), h.group("value")
            if key in ("from", "to", "cc"):
                found = [(n, e) for n, e in getaddresses([value]) if e]
                for name, addr in found:
                    people.setdefault(addr.casefold(), Participant(name=name or None, email=addr))
                if key == "from" and found:
                    sender = found[0]
            elif key == "subject" and subject is None:
                subject = value.strip() or None
            elif key in ("date", "sent") and when is None:
                when = _parse_date(value)
        body = text[pos:b] if pos < b else ""
        lead = len(body) - len(body.lstrip())
        start, end = pos + lead, pos + len(body.rstrip())
        if end <= start:
            continue
        drafts.append(
            _Draft(
                speaker=(sender[0] or sender[1]) if sender else None,
                email=(sender[1] or None) if sender else None,
                start=start,
                end=end,
            )
        )
    return drafts, list(people.values()), subject, when


def _looks_like_email(text: str) -> bool:
    head = text.lstrip()[:2000]
    return bool(re.search(r"^From:.+$", head, re.M)) and bool(
        re.search(r"^(To|Subject|Date|Sent):", head, re.M)
    )


def parse_text(
    text: str,
    *,
    markdown: bool = False,
    kind: ConversationKind | None = None,
    occurred_at: datetime | None = None,
    seller_domains: Sequence[str] = (),
    participants: Sequence[Participant] = (),
    sellers: Sequence[str] = (),
) -> Conversation:
    """A plain-text or Markdown conversation (already decoded)."""
    subject: str | None = None
    people: list[Participant] = list(participants)
    if _looks_like_email(text) and not markdown:
        drafts, found, subject, when = _parse_email(text)
        people += found
        occurred_at = occurred_at or when
        kind = kind or ConversationKind.EMAIL
    else:
        drafts = []
        if markdown:
            drafts = _turns_from_lines(text, _MD_LINE)
            if len(drafts) < 1:
                drafts = _markdown_sections(text)
        if not drafts:
            drafts = _turns_from_lines(text, _TRANSCRIPT_LINE)
        if kind is None:
            kind = (
                ConversationKind.CALL
                if any(d.offset is not None for d in drafts) or len(drafts) > 1
                else ConversationKind.CHAT
            )
        if not drafts:  # free text: one turn, speaker unknown
            lead = len(text) - len(text.lstrip())
            drafts = [_Draft(speaker=None, email=None, start=lead, end=len(text.rstrip()))]
    return _build(
        text,
        drafts,
        people,
        kind,
        occurred_at,
        subject,
        Direction.UNKNOWN,
        seller_domains,
        sellers,
    )


def _markdown_sections(text: str) -> list[_Draft]:
    drafts: list[_Draft] = []
    for pos, line in _lines(text):
        m = _MD_HEADING.match(line)
        who = _clean_speaker(m.group("who")) if m else None
        if m and who is not None:
            drafts.append(_Draft(speaker=who, email=None, start=pos + len(line) + 1, end=-1))
        elif drafts and line.strip() and not line.lstrip().startswith("#"):
            s = len(line) - len(line.lstrip())
            drafts[-1].extra.append((pos + s, pos + len(line.rstrip())))
    out = []
    for d in drafts:
        if d.extra:
            d.start, d.end = d.extra[0][0], d.extra[-1][1]
            out.append(d)
    return out


_SIDE_WORDS = {
    "buyer": Side.BUYER,
    "customer": Side.BUYER,
    "prospect": Side.BUYER,
    "seller": Side.SELLER,
    "vendor": Side.SELLER,
    "rep": Side.SELLER,
    "sales": Side.SELLER,
    "internal": Side.SELLER,
}


def _side(value: Any) -> Side:
    if isinstance(value, str):
        return _SIDE_WORDS.get(value.strip().casefold(), Side.UNKNOWN)
    return Side.UNKNOWN


def _str(value: Any, where: str, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int, float)):
        raise InvalidInput(f"{where} must be text", source=source, field=where)
    return str(value)


def parse_json(
    text: str,
    *,
    source: str = "conversation",
    occurred_at: datetime | None = None,
    seller_domains: Sequence[str] = (),
    sellers: Sequence[str] = (),
) -> Conversation:
    """A JSON conversation: an object with ``turns`` (or ``messages``) and optional ``kind``,
    ``date``, ``subject``, ``direction``, ``participants``; or a bare list of turns. A turn has
    ``text`` and optional ``speaker``, ``email``, ``side``, ``at`` and ``offset`` seconds."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInput(
            f"malformed JSON: {err.msg}", source=source, record=f"line {err.lineno}"
        ) from None
    if isinstance(data, list):
        data = {"turns": data}
    if not isinstance(data, dict):
        raise InvalidInput("a JSON conversation must be an object or a list", source=source)
    raw_turns = data.get("turns", data.get("messages", data.get("transcript")))
    if not isinstance(raw_turns, list) or not raw_turns:
        raise InvalidInput(
            "a JSON conversation needs a non-empty list of turns", source=source, field="turns"
        )
    listed = data.get("participants") or []
    if not isinstance(listed, list):
        raise InvalidInput("must be a list", source=source, field="participants")
    people: list[Participant] = []
    for i, p in enumerate(listed):
        if not isinstance(p, dict):
            raise InvalidInput("must be an object", source=source, field=f"participants[{i}]")
        people.append(
            Participant(
                name=_str(p.get("name"), f"participants[{i}].name", source),
                email=_str(p.get("email"), f"participants[{i}].email", source),
                side=_side(p.get("side") or p.get("role")),
                title=_str(p.get("title"), f"participants[{i}].title", source),
            )
        )
    when = occurred_at or _parse_date(str(data.get("date") or data.get("occurred_at") or ""))
    pieces: list[str] = []
    drafts: list[_Draft] = []
    pos = 0
    for i, t in enumerate(raw_turns):
        if isinstance(t, str):
            t = {"text": t}
        if not isinstance(t, dict):
            raise InvalidInput("a turn must be an object", source=source, field=f"turns[{i}]")
        words = _str(t.get("text", t.get("body", t.get("content"))), f"turns[{i}].text", source)
        if words is None or not words.strip():
            continue
        words = words.replace("\r\n", "\n").strip()
        who = _str(t.get("speaker", t.get("from", t.get("name"))), f"turns[{i}].speaker", source)
        email = _str(t.get("email"), f"turns[{i}].email", source)
        if who and _EMAIL.fullmatch(who.strip()) and email is None:
            email = who.strip()
        prefix = f"{who}: " if who else ""
        start = pos + len(prefix)
        pieces.append(prefix + words + "\n")
        offset = t.get("offset", t.get("offset_seconds"))
        at_raw = t.get("at", t.get("timestamp", t.get("time")))
        at: datetime | None = None
        if isinstance(at_raw, (int, float)) and offset is None:
            offset = at_raw
        elif isinstance(at_raw, str):
            at = _parse_date(at_raw) if not re.fullmatch(_CLOCK, at_raw) else None
            if at is None and re.fullmatch(_CLOCK, at_raw):
                offset = _seconds(at_raw)
        d = _Draft(speaker=who, email=email, start=start, end=start + len(words))
        d.offset = float(offset) if isinstance(offset, (int, float)) else None
        d.at = at
        d.side = _side(t.get("side") or t.get("role"))
        drafts.append(d)
        pos += len(pieces[-1])
    if not drafts:
        raise InvalidInput("every turn is empty", source=source, field="turns")
    rendered = "".join(pieces)
    kind_raw = str(data.get("kind", data.get("type", "")) or "").casefold()
    kind = {
        "call": ConversationKind.CALL,
        "meeting": ConversationKind.CALL,
        "email": ConversationKind.EMAIL,
        "chat": ConversationKind.CHAT,
    }.get(kind_raw, ConversationKind.CALL)
    direction_raw = str(data.get("direction") or "").casefold()
    direction = (
        Direction(direction_raw)
        if direction_raw in Direction._value2member_map_
        else Direction.UNKNOWN
    )
    subject = _str(data.get("subject"), "subject", source)
    named = data.get("seller_domains") or []
    if not isinstance(named, list):
        raise InvalidInput("must be a list", source=source, field="seller_domains")
    domains = list(seller_domains) + [str(d) for d in named if isinstance(d, str)]
    return _build(rendered, drafts, people, kind, when, subject, direction, domains, sellers)


def parse(
    data: bytes | str,
    *,
    fmt: Format = "auto",
    source: str = "conversation",
    kind: ConversationKind | None = None,
    occurred_at: datetime | None = None,
    seller_domains: Sequence[str] = (),
    sellers: Sequence[str] = (),
    activity_id: UUID | None = None,
    participants: Sequence[Participant] = (),
) -> Conversation:
    """Any supported input. ``seller_domains`` (email domains) and ``sellers`` (the seller's
    company name and its people's names, as they appear in speaker labels) mark the seller
    side; without them sides are inferred from labels such as "(AE)" and from cue phrases.
    ``fmt="auto"`` picks JSON when the text starts with ``{`` or ``[``, Markdown when it has
    ``**Speaker:**`` turns or ``## Speaker`` headings, else text."""
    text = decode(data, source=source)
    if fmt == "json" or (fmt == "auto" and _JSON_START.match(text)):
        conv = parse_json(
            text,
            source=source,
            occurred_at=occurred_at,
            seller_domains=seller_domains,
            sellers=sellers,
        )
        update: dict[str, object] = {"activity_id": activity_id}
        if kind:
            update["kind"] = kind
        return conv.model_copy(update=update)
    markdown = fmt == "markdown" or (
        fmt == "auto"
        and any(_MD_LINE.match(ln) or _MD_HEADING.match(ln) for ln in text[:4000].split("\n"))
    )
    conv = parse_text(
        text,
        markdown=markdown,
        kind=kind,
        occurred_at=occurred_at,
        seller_domains=seller_domains,
        sellers=sellers,
        participants=participants,
    )
    return conv.model_copy(update={"activity_id": activity_id}) if activity_id else conv


# --------------------------------------------------------------------------------------------
# Sides: who is the buyer, who the seller

_SELLER_CUES = rx(
    r"\b(thanks for joining|thanks for taking the time|following up on|circling back|"
    r"our (?:platform|product|solution|pricing|tool|customers|team can|onboarding|roadmap|"
    r"integration|implementation team)|we offer|i(?:'ll| will) send (?:over|you)|"
    r"happy to (?:set up|walk|share|show)|let me show|our solutions engineer|"
    r"quick follow-up|i can (?:send|share) (?:a|the) (?:proposal|quote|deck)|"
    r"how (?:are you|is your team) (?:handling|managing|doing)|what does your|"
    r"do you have (?:a )?budget|who else (?:is|would be) involved|what(?:'s| is) your timeline|"
    r"our (?:standard|list) price)\b"
)
_BUYER_CUES = rx(
    r"\b(we need|we are looking|we're looking|our budget|we have budget|budget (?:is|of)|"
    r"our (?:current|existing) (?:tool|system|stack|process|vendor)|we (?:use|run) |"
    r"we(?:'re| are) (?:evaluating|comparing|also looking)|our reps|our forecast|"
    r"my team|our team is|we struggle|it is hurting|is hurting us|can you (?:share|send)|"
    r"sign(?:s|ed)? (?:off|the contract)|final sign-off|our (?:cfo|ceo|cto|vp)|"
    r"(?:hard|target) (?:date|go-live)|our (?:legal|security|procurement) team)\b"
)


def _domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().casefold()


def _build(
    text: str,
    drafts: list[_Draft],
    people: list[Participant],
    kind: ConversationKind,
    occurred_at: datetime | None,
    subject: str | None,
    direction: Direction,
    seller_domains: Sequence[str],
    seller_marks: Sequence[str] = (),
) -> Conversation:
    sellers = {d.casefold().lstrip("@") for d in seller_domains}
    marks = [re.compile(rf"(?<!\w){re.escape(m.casefold())}(?!\w)") for m in seller_marks if m]
    # emails and titles of speakers from the participant list
    by_name = {p.name.casefold(): p for p in people if p.name}
    by_email = {p.email.casefold(): p for p in people if p.email}
    for d in drafts:
        if d.email is None and d.speaker and d.speaker.casefold() in by_name:
            d.email = by_name[d.speaker.casefold()].email
        if d.speaker and "(" in d.speaker and d.speaker.endswith(")"):
            label = d.speaker[d.speaker.index("(") + 1 : -1]
            if _SELLER_LABEL.search(label):
                d.side = d.side if d.side is not Side.UNKNOWN else Side.SELLER
            elif _BUYER_LABEL.search(label):
                d.side = d.side if d.side is not Side.UNKNOWN else Side.BUYER

    # group speakers: by email domain where known, else by name
    def key(d: _Draft) -> str:
        dom = _domain(d.email)
        if dom:
            return "@" + dom
        return "name:" + (d.speaker or "?").casefold()

    side_of: dict[str, Side] = {}
    for d in drafts:
        k = key(d)
        explicit = d.side
        if explicit is Side.UNKNOWN:
            p = by_email.get((d.email or "").casefold()) or by_name.get(
                (d.speaker or "").casefold()
            )
            if p is not None:
                explicit = p.side
        if explicit is Side.UNKNOWN and marks and d.speaker:
            label = d.speaker.casefold()
            if any(m.search(label) for m in marks):
                explicit = Side.SELLER
        if explicit is Side.UNKNOWN and k.startswith("@") and sellers:
            explicit = Side.SELLER if k[1:] in sellers else Side.BUYER
        if explicit is Side.UNKNOWN and d.speaker and _SELLER_LABEL.fullmatch(d.speaker.strip()):
            explicit = Side.SELLER
        if explicit is Side.UNKNOWN and d.speaker and _BUYER_LABEL.fullmatch(d.speaker.strip()):
            explicit = Side.BUYER
        if explicit is not Side.UNKNOWN:
            side_of.setdefault(k, explicit)
    # the rest by cue phrases, aggregated per group
    groups = {key(d) for d in drafts if key(d) != "name:?"}
    undecided = [g for g in groups if g not in side_of]
    if undecided:
        score: dict[str, int] = dict.fromkeys(undecided, 0)
        for d in drafts:
            k = key(d)
            if k in score:
                words = lower(text[d.start : d.end])
                score[k] += len(_SELLER_CUES.findall(words)) - len(_BUYER_CUES.findall(words))
        explicit_sides = set(side_of.values())
        for g in sorted(undecided, key=lambda g: -abs(score[g])):
            if explicit_sides == {Side.SELLER}:
                # the seller's people are known: everyone else is the buyer side (buyers say
                # "happy to set up a session" too)
                side_of[g] = Side.BUYER
            elif score[g] > 0:
                side_of[g] = Side.SELLER
            elif score[g] < 0:
                side_of[g] = Side.BUYER
        # two parties and one side known: the other is the other side
        left = [g for g in groups if g not in side_of]
        known = set(side_of.values())
        if left and len(groups) >= 2:
            if known == {Side.SELLER}:
                for g in left:
                    side_of[g] = Side.BUYER
            elif known == {Side.BUYER} and len(left) == 1:
                side_of[left[0]] = Side.SELLER
    turns: list[Turn] = []
    for d in drafts:
        side = side_of.get(key(d), Side.UNKNOWN)
        turns.append(
            Turn(
                speaker=d.speaker,
                email=d.email,
                side=side,
                text=text[d.start : d.end],
                start=d.start,
                end=d.end,
                at=d.at,
                offset_seconds=d.offset,
            )
        )
    # participants: everyone listed, plus speakers not listed
    listed: list[Participant] = []
    seen: set[str] = set()
    for p in people:
        k = (p.email or p.name or "").casefold()
        if not k or k in seen:
            continue
        seen.add(k)
        dom = "@" + (_domain(p.email) or "")
        side = p.side
        if side is Side.UNKNOWN:
            side = side_of.get(dom, side_of.get("name:" + (p.name or "").casefold(), Side.UNKNOWN))
        listed.append(p.model_copy(update={"side": side}))
    for t in turns:
        k = (t.email or t.speaker or "").casefold()
        if k and k not in seen and not (t.speaker and t.speaker.casefold() in seen):
            seen.add(k)
            listed.append(Participant(name=t.speaker, email=t.email, side=t.side))
    if direction is Direction.UNKNOWN and kind is ConversationKind.EMAIL and turns:
        direction = {Side.BUYER: Direction.INBOUND, Side.SELLER: Direction.OUTBOUND}.get(
            turns[0].side, Direction.UNKNOWN
        )
    return Conversation(
        text=text,
        kind=kind,
        turns=tuple(turns),
        participants=tuple(listed),
        occurred_at=occurred_at,
        direction=direction,
        subject=subject,
        seller_domains=tuple(sorted(sellers)),
    )


#: Activity types whose text is an email (or a thread of them); others are calls or chats.
_EMAIL_TYPES = frozenset({"email", "follow_up", "proposal", "contract"})
_CALL_TYPES = frozenset({"call", "meeting", "demo"})


def from_activity(
    content: str,
    *,
    activity_type: str,
    occurred_at: datetime,
    activity_id: UUID | None = None,
    participants: Sequence[Participant] = (),
    seller_domains: Sequence[str] = (),
    sellers: Sequence[str] = (),
) -> Conversation:
    """The conversation in an imported activity's text (a Salesforce Task body, a HubSpot
    email, a sample-world transcript), ready for an extractor. ``activity_type`` is the
    activity's ``ActivityType`` value; ``participants`` the contacts PIE already knows (their
    titles and sides help attribution)."""
    kind = (
        ConversationKind.EMAIL
        if activity_type in _EMAIL_TYPES and _looks_like_email(content)
        else ConversationKind.CALL
        if activity_type in _CALL_TYPES
        else None
    )
    return parse(
        content,
        source=f"activity {activity_id}" if activity_id else "activity",
        kind=kind,
        occurred_at=occurred_at,
        seller_domains=seller_domains,
        sellers=sellers,
        activity_id=activity_id,
        participants=participants,
    )
