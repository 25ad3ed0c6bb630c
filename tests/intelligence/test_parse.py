"""Conversation parsers: formats, spans, sides, and clear errors for bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pie.domain.errors import InvalidInput
from pie.domain.intelligence import ConversationKind, Direction, Side
from pie.intelligence.parse import MAX_BYTES, parse

EMAIL = """From: Dana Reyes <dana@acme.com>
To: Alex Morgan <alex.morgan@vendor.example>
Date: Mon, 02 Mar 2026 10:00:00 +0000
Subject: Re: Pricing

Hi Alex,

We have budget of roughly $120,000 set aside for this.

Best,
Dana

--- Original message ---
From: Alex Morgan <alex.morgan@vendor.example>
To: Dana Reyes <dana@acme.com>
Subject: Pricing

Hi Dana, following up on our call. Happy to set up a session with our solutions engineer.
"""


def test_email_thread_turns_headers_and_sides() -> None:
    c = parse(EMAIL.encode())
    assert c.kind is ConversationKind.EMAIL
    assert c.subject == "Re: Pricing"
    assert c.occurred_at == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert [t.speaker for t in c.turns] == ["Dana Reyes", "Alex Morgan"]
    assert [t.side for t in c.turns] == [Side.BUYER, Side.SELLER]
    assert c.direction is Direction.INBOUND
    for t in c.turns:
        assert c.text[t.start : t.end] == t.text
    assert "$120,000" in c.turns[0].text and "Original message" not in c.turns[0].text
    emails = {p.email for p in c.participants}
    assert emails == {"dana@acme.com", "alex.morgan@vendor.example"}


def test_seller_domain_decides_the_side() -> None:
    c = parse(EMAIL, seller_domains=("acme.com",))  # as if Dana's company were the seller
    assert c.turns[0].side is Side.SELLER and c.turns[1].side is Side.BUYER


def test_quoted_reply_keeps_the_sender_of_the_quote() -> None:
    text = (
        "From: Bjorn <bjorn@polar.no>\nTo: Hannah <hannah@vendor.example>\nSubject: Re: x\n\n"
        "Works for us.\n\nOn Wed, May 13, 2026 at 4:12 PM, Hannah Lee <hannah@vendor.example> "
        "wrote:\n> Attached is pricing.\n"
    )
    c = parse(text, seller_domains=("vendor.example",))
    assert [t.speaker for t in c.turns] == ["Bjorn", "Hannah Lee"]
    assert [t.side for t in c.turns] == [Side.BUYER, Side.SELLER]


def test_transcript_lines_timestamps_and_continuations() -> None:
    text = (
        "[00:00] Sam (AE): Thanks for joining.\n"
        "[01:05] Priya Shah: We need this by Q3.\nAnd the budget is approved.\n"
        "01:02:03 Priya Shah: One more thing.\n"
    )
    c = parse(text)
    assert c.kind is ConversationKind.CALL
    assert [t.offset_seconds for t in c.turns] == [0.0, 65.0, 3723.0]
    assert c.turns[1].text == "We need this by Q3.\nAnd the budget is approved."
    assert c.turns[0].side is Side.SELLER and c.turns[1].side is Side.BUYER


def test_markdown_turns_and_headings() -> None:
    md = "# Notes\n**Ava (Lumen):** Hi!\n**Jonas Weber:** We have 60 reps.\n"
    c = parse(md, sellers=("Lumen",))
    assert [(t.speaker, t.side) for t in c.turns] == [
        ("Ava (Lumen)", Side.SELLER),
        ("Jonas Weber", Side.BUYER),
    ]
    sections = "## Mia\nHello there.\n\n## Felix\nWe need a tool.\nSoon.\n"
    c = parse(sections, fmt="markdown")
    assert [t.speaker for t in c.turns] == ["Mia", "Felix"]
    assert c.turns[1].text == "We need a tool.\nSoon."


def test_json_with_participants_timestamps_and_direction() -> None:
    doc = {
        "kind": "chat",
        "date": "2026-01-05T09:00:00Z",
        "direction": "inbound",
        "participants": [{"name": "Lee", "email": "lee@buyer.io", "side": "buyer", "title": "CFO"}],
        "turns": [
            {"speaker": "Lee", "text": "Hi there", "at": "00:10"},
            {"speaker": "Rep", "email": "r@vendor.com", "side": "seller", "text": "Hello!"},
        ],
    }
    c = parse(json.dumps(doc))
    assert c.kind is ConversationKind.CHAT and c.direction is Direction.INBOUND
    assert c.text == "Lee: Hi there\nRep: Hello!\n"
    assert [t.side for t in c.turns] == [Side.BUYER, Side.SELLER]
    assert c.turns[0].email == "lee@buyer.io" and c.turns[0].offset_seconds == 10.0
    assert c.participants[0].title == "CFO"
    assert parse(json.dumps(["just words"])).turns[0].text == "just words"


def test_plain_free_text_is_one_turn() -> None:
    c = parse("  The customer wants a proposal by May.  \n")
    assert len(c.turns) == 1 and c.turns[0].text == "The customer wants a proposal by May."
    assert c.turns[0].side is Side.UNKNOWN


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"  \n\t ", "empty"),
        (b"\x00\x01\x02binary", "binary"),
        (b"caf\xe9 au lait", "not UTF-8"),
        (b'{"turns": [', "malformed JSON"),
        (b'{"turns": []}', "non-empty list of turns"),
        (b'{"turns": [{"text": 3.5, "speaker": {}}]}', "must be text"),
        (b'"a string"', "object or a list"),
        (b'{"turns": [{"text": "hi"}], "participants": true}', "must be a list"),
        (b'{"turns": [{"text": "hi"}], "participants": 3}', "must be a list"),
        (b'{"turns": [{"text": "hi"}], "seller_domains": 1}', "must be a list"),
        (b"x" * (MAX_BYTES + 1), "larger than 5 MB"),
    ],
)
def test_bad_input_is_a_clear_error(data: bytes, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse(data, source="upload.txt", fmt="json" if data.startswith(b'"') else "auto")


def test_malformed_json_names_the_line() -> None:
    with pytest.raises(InvalidInput) as err:
        parse(b'{\n "turns": [\n  {"text": "hi",}\n ]\n}', source="c.json")
    assert err.value.record == "line 3" and err.value.source == "c.json"


def test_from_activity_sets_kind_and_activity_id() -> None:
    from uuid import uuid4

    from pie.intelligence.parse import from_activity

    aid = uuid4()
    c = from_activity(
        EMAIL,
        activity_type="follow_up",
        occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
        activity_id=aid,
        seller_domains=("vendor.example",),
    )
    assert c.kind is ConversationKind.EMAIL and c.activity_id == aid
    t = from_activity(
        "[00:05] Ann: We need it by May.\n",
        activity_type="meeting",
        occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert t.kind is ConversationKind.CALL and t.activity_id is None
