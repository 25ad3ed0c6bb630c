"""The offline extractor: money, dates, negation, hypotheticals, who said it, enrichment."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pie.domain.intelligence import (
    Conversation,
    DecisionAction,
    Extraction,
    Side,
    SignalKind,
    decide,
    evidence_items,
)
from pie.domain.model import Deal, StakeholderRole
from pie.domain.stages import Stage
from pie.intelligence.dates import find_timeframes
from pie.intelligence.lexicon import ExtractorConfig
from pie.intelligence.money import find_money
from pie.intelligence.offline import OfflineExtractor
from pie.intelligence.parse import parse

CFG = ExtractorConfig(
    competitors=("Clari", "Gong", "Forecastly"),
    products={"Forecasting": ("forecast module",), "Deal Desk": ("quoting",)},
)
DAY = datetime(2026, 3, 4, 12, tzinfo=UTC)


def run(text: str, **kw: object) -> tuple[Conversation, Extraction]:
    conv = parse(text, occurred_at=DAY, sellers=("Lumen",), **kw)  # type: ignore[arg-type]
    x = OfflineExtractor(CFG).extract_sync(conv)
    for ev in evidence_items(x):
        assert conv.text[ev.start : ev.end] == ev.quote
    return conv, x


@pytest.mark.parametrize(
    ("text", "amount", "high", "currency", "period"),
    [
        ("budget of roughly $120,000", 120000, None, "USD", None),
        ("about $50k per year", 50000, None, "USD", "year"),
        ("between $40k and $60k a year", 40000, 60000, "USD", "year"),
        ("$40-60k", 40000, 60000, "USD", None),
        ("half a million dollars", 500000, None, "USD", None),
        ("EUR 1.2M", 1200000, None, "EUR", None),
        ("1.200,50 € monthly", Decimal("1200.50"), None, "EUR", "month"),
        ("200 grand", 200000, None, None, None),
        ("£40,000", 40000, None, "GBP", None),
    ],
)
def test_money(
    text: str, amount: object, high: object, currency: str | None, period: str | None
) -> None:
    (m,) = find_money(text)
    assert m.amount == Decimal(str(amount))
    assert m.high == (Decimal(str(high)) if high is not None else None)
    assert (m.currency, m.period) == (currency, period)


def test_no_money_in_counts_and_years() -> None:
    assert find_money("we have 12 reps and 3 managers since 2019") == []


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("live by Q3", date(2026, 9, 30)),
        ("by the end of the quarter", date(2026, 3, 31)),
        ("in six weeks", date(2026, 4, 15)),
        ("go-live is March 2027", date(2027, 3, 31)),
        ("before mid-April", date(2026, 4, 15)),
        ("by Friday", date(2026, 3, 6)),
        ("end of FY27", date(2027, 12, 31)),
        ("next quarter", date(2026, 6, 30)),
        ("on the 15th of May", date(2026, 5, 15)),
        ("before the autumn", date(2026, 11, 30)),
        ("in January", date(2027, 1, 31)),
    ],
)
def test_timeframes_anchor_at_the_conversation_date(text: str, due: date) -> None:
    (t,) = find_timeframes(text, DAY.date())
    assert t.due == due


def test_fiscal_quarters_follow_the_fiscal_year() -> None:
    (t,) = find_timeframes("by Q1", date(2026, 3, 4), fy_start_month=4)
    assert t.due == date(2026, 6, 30)


def test_may_the_verb_is_not_a_month() -> None:
    assert find_timeframes("we may sign soon", DAY.date()) == []


STRONG = """[00:00] Maya (Lumen): Thanks for joining, Tom.
[00:20] Tom Okafor: Honestly our forecast is off by 20% every quarter and it hurts.
[00:40] Tom Okafor: We have about $90k budgeted for this, and we need it live by end of September.
[01:00] Tom Okafor: Priya Shah, our CFO, has final sign-off. We're also looking at Clari.
[01:20] Tom Okafor: I'm not comfortable with the security review findings yet.
[01:40] Maya (Lumen): I'll send over the SOC 2 report by Friday.
[02:00] Tom Okafor: That helps, thanks. I'll push for this internally.
"""


def test_a_strong_call_qualifies_and_creates() -> None:
    conv, x = run(STRONG)
    q = x.qualification
    assert q.budget is not None and q.budget.amount == 90000
    assert q.budget.evidence is not None and q.budget.evidence.side is Side.BUYER
    assert q.budget.evidence.speaker == "Tom Okafor"
    assert q.timeline is not None and q.timeline.due == date(2026, 9, 30)
    assert q.authority is not None and q.authority.value == "Priya Shah (CFO)"
    assert q.economic_buyer is not None
    assert q.champion is not None and q.champion.value == "Tom Okafor"
    assert q.identify_pain is not None and q.metrics is not None
    kinds = {s.kind for s in x.detection.signals}
    assert {
        SignalKind.BUDGET_MENTION,
        SignalKind.TIMELINE_URGENCY,
        SignalKind.COMPETITIVE_EVALUATION,
        SignalKind.QUANTIFIED_PAIN,
    } <= kinds
    assert x.detection.confidence >= 0.8 and x.detection.competitors == ("Clari",)
    assert decide(x.detection, []).action is DecisionAction.CREATE
    en = x.enrichment
    (obj,) = en.objections
    assert obj.category == "security" and obj.resolved and obj.resolution is not None
    step = next(s for s in en.next_steps if "SOC 2" in s.text)
    assert step.owner == "Maya (Lumen)" and step.due == date(2026, 3, 6)
    assert any(m.at_seconds == 40.0 for m in en.key_moments)
    people = {p.name: p for p in en.stakeholders}
    assert "Maya (Lumen)" not in people  # the seller is not a stakeholder
    assert StakeholderRole.CHAMPION in {r.role for r in people["Tom Okafor"].roles}
    assert people["Priya Shah"].mentioned_only and people["Priya Shah"].title == "CFO"
    assert StakeholderRole.ECONOMIC_BUYER in {r.role for r in people["Priya Shah"].roles}
    assert any(h.score == "decision_power" for h in people["Priya Shah"].scores)
    assert en.summary and "Clari" in en.summary
    assert len(en.turn_sentiment) == len(conv.turns)


@pytest.mark.parametrize(
    "text",
    [
        # hypotheticals
        "[00:00] Rep (Lumen): Where are you?\n[00:10] Bea: If we had budget this year we'd "
        "look at it. Hypothetically a rollout in Q3 would be nice.\n",
        # negations
        "[00:00] Rep (Lumen): Any budget?\n[00:10] Marc: There's no budget for new tools and "
        "we have no plans to change vendors. We're not evaluating Gong or anyone.\n",
        # seller-only claims
        "[00:00] Kevin (Lumen AE): Most teams set aside $80k for this and we can have you "
        "live by June. We beat Clari every time.\n[00:30] Rachel: Okay, thanks.\n",
        # small talk with money and dates
        "[00:00] Chris (Lumen): How was Lisbon?\n[00:10] Jen: Great! I spent $40 on pastries "
        "and we go back in October with the kids.\n",
    ],
)
def test_hard_negatives_create_nothing(text: str) -> None:
    _, x = run(text)
    assert x.qualification.budget is None
    assert x.qualification.timeline is None
    assert decide(x.detection, []).action is DecisionAction.NONE
    assert x.detection.signal(SignalKind.COMPETITIVE_EVALUATION) is None


def test_questions_are_not_claims() -> None:
    _, x = run("[00:00] Rep (Lumen): Hi.\n[00:05] Zara: Do we need budget approved by Q3?\n")
    assert x.qualification.budget is None and x.qualification.timeline is None


def test_a_misspelt_competitor_is_found() -> None:
    _, x = run("[00:00] Rep (Lumen): Hi.\n[00:05] Ana: We are also looking at Forcastly.\n")
    assert x.detection.competitors == ("Forecastly",)


def _deal(product: str | None, close: date | None) -> Deal:
    return Deal(
        id=__import__("uuid").uuid4(),
        tenant_id=__import__("uuid").uuid4(),
        name="d",
        account_id=None,
        stage=Stage.PROPOSAL,
        product_line=product,
        expected_close=close,
        created_at=DAY,
        updated_at=DAY,
    )


def test_product_line_picks_update_or_a_new_deal() -> None:
    text = (
        "[00:00] Maya (Lumen): How is the forecast module rollout?\n"
        "[00:10] Noah Fischer: Great. Separately, our marketing team wants Deal Desk for "
        "quoting. They have a budget of $30k and want it live by June.\n"
    )
    _, x = run(text)
    assert x.detection.product_line == "Deal Desk"
    assert decide(x.detection, [_deal("Forecasting", date(2026, 6, 30))]).action is (
        DecisionAction.CREATE
    )
    same = _deal("Deal Desk", date(2026, 7, 15))
    d = decide(x.detection, [same])
    assert d.action is DecisionAction.UPDATE and d.deal_id == same.id


def test_every_quote_is_verbatim_even_with_odd_unicode() -> None:
    text = "[00:00] İlker Şahin: Budget is approved: €45.000 for İstanbul, live by Q4!\n"
    conv, x = run(text)
    assert x.qualification.budget is not None
    assert x.qualification.budget.evidence is not None
    assert conv.text[x.qualification.budget.evidence.start :].startswith("Budget")


async def test_pipeline_extracts_then_decides() -> None:
    from pie.intelligence.pipeline import process

    conv = parse(STRONG, occurred_at=DAY, sellers=("Lumen",))
    out = await process(conv, OfflineExtractor(CFG), [])
    assert out.decision.action is DecisionAction.CREATE
    assert out.extraction.detection.confidence == out.decision.confidence


@pytest.mark.parametrize(
    "line",
    [
        "I will check with the team and come back to you.",
        "I need to run it by my boss before we talk about any pricing.",
        "Let me check with my manager first and get back to you.",
    ],
)
def test_a_deferral_is_not_authority(line: str) -> None:
    _, x = run(f"Maya (Lumen): Who decides on your side?\nSam Ortiz: {line}\n")
    assert x.qualification.authority is None
    assert x.qualification.economic_buyer is None
    assert SignalKind.BUYING_PROCESS not in {s.kind for s in x.detection.signals}


def test_a_deferral_to_someone_named_is_their_authority() -> None:
    _, x = run("Sam Ortiz: I need to run it by our CFO, Laura Benson, she signs contracts.\n")
    assert x.qualification.authority is not None
    assert "Laura Benson" in x.qualification.authority.value


def test_honorifics_do_not_end_a_sentence_and_accented_names_are_names() -> None:
    _, x = run(
        "Jonas Albrecht: The final decision is with our managing director, Mr. Brandt. "
        "He signs all contracts above 25.000 euros.\n"
    )
    q = x.qualification
    assert q.authority is not None and q.economic_buyer is not None
    assert q.authority.evidence is not None and q.economic_buyer.evidence is not None
    assert "Mr. Brandt" in q.authority.evidence.quote
    assert "Brandt" in q.economic_buyer.value
    _, x = run("Valeria Gómez: Our director, Andrés Ruiz, already approved 45k USD this year.\n")
    assert x.qualification.authority is not None
    assert "Andrés Ruiz" in x.qualification.authority.value


def test_apologising_for_a_slow_reply_is_not_a_pain() -> None:
    _, x = run("Yuki Tanaka: Hello Leo, sorry for the slow answer. Mr. Sato signs next week.\n")
    assert x.qualification.identify_pain is None


def test_a_pilot_outcome_is_not_a_process_step_but_a_pushed_extension_is_a_champion() -> None:
    _, x = run(
        "Beatriz Costa: I am going to present the results to our leadership team myself and "
        "push to extend it to all regions.\nBeatriz Costa: Please send me the pilot numbers.\n"
    )
    assert x.qualification.champion is not None
    assert x.qualification.decision_process is None
    assert SignalKind.PRODUCT_INTEREST in {s.kind for s in x.detection.signals}  # expansion
