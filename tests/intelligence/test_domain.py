"""The pure rules of deal intelligence: the verbatim invariant, merging and decide()."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from pie.domain.intelligence import (
    DecisionAction,
    Detection,
    Enrichment,
    Evidence,
    Extraction,
    Objection,
    Qualification,
    QualificationField,
    Signal,
    SignalKind,
    Thresholds,
    decide,
    enforce_verbatim,
    evidence_items,
    merge_qualification,
)
from pie.domain.model import Deal
from pie.domain.stages import Stage

SRC = "Buyer: We have about $50k set aside. Seller: Great, we can start in May."
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def ev(quote: str, at: datetime = T0, start: int | None = None) -> Evidence:
    i = SRC.find(quote) if start is None else start
    return Evidence(quote=quote, start=max(i, 0), end=max(i, 0) + len(quote), at=at)


def field(value: str, quote: str, conf: float, at: datetime = T0) -> QualificationField:
    return QualificationField(value=value, evidence=ev(quote, at), confidence=conf)


def deal(product: str | None, close: date | None, stage: Stage = Stage.DISCOVERY) -> Deal:
    return Deal(
        id=uuid4(),
        tenant_id=uuid4(),
        name="d",
        account_id=uuid4(),
        stage=stage,
        product_line=product,
        expected_close=close,
        created_at=T0,
        updated_at=T0,
    )


def test_enforce_verbatim_keeps_repairs_and_drops() -> None:
    good = ev("about $50k")
    shifted = Evidence(quote="set aside", start=0, end=9)  # right quote, wrong offsets
    invented = Evidence(quote="budget is approved", start=0, end=18)
    x = Extraction(
        qualification=Qualification(
            budget=QualificationField(value="$50,000", evidence=good, confidence=0.8),
            authority=QualificationField(value="x", evidence=invented, confidence=0.9),
        ),
        detection=Detection(
            signals=(
                Signal(kind=SignalKind.BUDGET_MENTION, confidence=0.8, evidence=(good, shifted)),
                Signal(kind=SignalKind.BUYING_PROCESS, confidence=0.9, evidence=(invented,)),
            ),
            confidence=0.95,
        ),
        enrichment=Enrichment(
            objections=(
                Objection(
                    text="o",
                    evidence=good,
                    resolved=True,
                    resolution="r",
                    resolution_evidence=invented,
                ),
            )
        ),
    )
    out = enforce_verbatim(SRC, x)
    assert out.qualification.budget is not None
    assert out.qualification.authority is None
    assert [s.kind for s in out.detection.signals] == [SignalKind.BUDGET_MENTION]
    assert out.detection.confidence <= 1 - (1 - 0.8) ** 2 + 1e-9
    assert out.enrichment.objections[0].resolved is False
    assert out.warnings and "not in the text" in out.warnings[0]
    for e in evidence_items(out):
        assert SRC[e.start : e.end] == e.quote
    assert out.detection.signals[0].evidence[1].start == SRC.find("set aside")


def test_merge_newer_or_more_confident_wins_and_history_is_kept() -> None:
    old = Qualification(budget=field("$50,000", "about $50k", 0.6))
    later = Qualification(budget=field("May", "start in May", 0.5, T0 + timedelta(days=3)))
    merged = merge_qualification(old, later)
    assert merged.budget is not None and merged.budget.value == "May"
    assert [p.value for p in merged.budget.history] == ["$50,000"]
    # an older, less confident conversation processed late does not win, but is remembered
    earlier = Qualification(budget=field("$10", "Buyer", 0.4, T0 - timedelta(days=3)))
    again = merge_qualification(merged, earlier)
    assert again.budget is not None and again.budget.value == "May"
    assert [p.value for p in again.budget.history] == ["$50,000", "$10"]
    # idempotent
    assert merge_qualification(again, later) == again
    # more confident wins even if older
    sure = Qualification(budget=field("$50k", "about $50k", 0.95, T0 - timedelta(days=9)))
    assert merge_qualification(again, sure).budget.value == "$50k"  # type: ignore[union-attr]


def test_merge_never_overwrites_a_human_value() -> None:
    human = Qualification(budget=QualificationField(value="$80,000", by_human=True))
    new = Qualification(budget=field("$50,000", "about $50k", 0.99, T0 + timedelta(days=9)))
    out = merge_qualification(human, new)
    assert out.budget is not None and out.budget.value == "$80,000" and out.budget.by_human
    assert out.budget.history[-1].value == "$50,000"
    plain = Qualification(budget=field("$80,000", "Buyer", 0.3))
    kept = merge_qualification(plain, new, human_fields={"budget"})
    assert kept.budget is not None and kept.budget.value == "$80,000"
    assert merge_qualification(plain, new).budget.value == "$50,000"  # type: ignore[union-attr]


def test_decide_thresholds_and_preference_for_update() -> None:
    det = Detection(confidence=0.85, product_line="Forecasting", timeline=date(2026, 6, 1))
    assert decide(det, []).action is DecisionAction.CREATE
    assert decide(det.model_copy(update={"confidence": 0.79}), []).action is DecisionAction.NONE
    low = det.model_copy(update={"confidence": 0.69})
    assert decide(low, [deal("Forecasting", None)]).action is DecisionAction.NONE
    same = deal("forecasting", date(2026, 7, 1))
    d = decide(det.model_copy(update={"confidence": 0.72}), [same])
    assert d.action is DecisionAction.UPDATE and d.deal_id == same.id
    assert decide(det, [same]).action is DecisionAction.UPDATE  # prefers update
    other_line = deal("Analytics", date(2026, 6, 1))
    assert decide(det, [other_line]).action is DecisionAction.CREATE
    far = deal("Forecasting", date(2026, 10, 15))
    assert decide(det, [far]).action is DecisionAction.CREATE
    assert decide(det.model_copy(update={"confidence": 0.75}), [far]).action is (
        DecisionAction.NONE
    )
    closed = deal("Forecasting", date(2026, 6, 1), Stage.CLOSED_WON)
    assert decide(det, [closed]).action is DecisionAction.CREATE
    unknown_line = deal(None, None)
    assert decide(det, [other_line, unknown_line]).deal_id == unknown_line.id
    strict = Thresholds(create=0.9, update=0.86)
    assert decide(det, [same], strict).action is DecisionAction.NONE


def test_models_round_trip_through_json() -> None:
    q = Qualification(budget=field("$50,000", "about $50k", 0.6))
    x = Extraction(qualification=q)
    assert Extraction.model_validate_json(x.model_dump_json()) == x
    assert Extraction.model_validate(x.model_dump(mode="json")) == x
