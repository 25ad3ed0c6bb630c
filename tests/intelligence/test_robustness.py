"""Any text in: the parsers either read it or raise InvalidInput, and every quote the offline
extractor returns is verbatim."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie.domain.errors import InvalidInput
from pie.domain.intelligence import evidence_items
from pie.intelligence.lexicon import ExtractorConfig
from pie.intelligence.offline import OfflineExtractor
from pie.intelligence.parse import parse

EXTRACTOR = OfflineExtractor(ExtractorConfig(competitors=("Clari", "Gong")))
WORDS = st.sampled_from(
    (
        "we",
        "have",
        "budget",
        "of",
        "$50k",
        "set",
        "aside",
        "need",
        "live",
        "by",
        "Q3",
        "next",
        "month",
        "CFO",
        "signs",
        "not",
        "if",
        "had",
        "Clari",
        "Gong",
        "pilot",
        "procurement",
        "İstanbul",
        "1.200,50",
        "€",
        "-",
        ":",
        "[00:10]",
        "Dana:",
        "**Ann:**",
        "\n",
        ",",
        ".",
        "?",
        "!",
        "From:",
        "To:",
        "Subject:",
        "20%",
        "hours",
        "frustrated",
        "I'll",
        "push",
        "for",
        "this",
    )
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=400), st.lists(WORDS, max_size=80).map(" ".join)))
def test_any_text_parses_or_fails_cleanly_and_quotes_stay_verbatim(text: str) -> None:
    try:
        conv = parse(text, occurred_at=datetime(2026, 3, 4, tzinfo=UTC))
    except InvalidInput:
        return
    x = EXTRACTOR.extract_sync(conv)
    for ev in evidence_items(x):
        assert ev.quote and conv.text[ev.start : ev.end] == ev.quote
    for t in conv.turns:
        assert conv.text[t.start : t.end] == t.text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "turns",
                    "text",
                    "speaker",
                    "email",
                    "at",
                    "participants",
                    "kind",
                    "date",
                    "side",
                    "offset",
                    "direction",
                    "name",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=15,
)


@settings(max_examples=150, deadline=None)
@given(JSON)
def test_any_json_is_read_or_refused_with_invalid_input(doc: object) -> None:
    import json

    try:
        conv = parse(json.dumps(doc), fmt="json")
    except InvalidInput:
        return
    for t in conv.turns:
        assert conv.text[t.start : t.end] == t.text
