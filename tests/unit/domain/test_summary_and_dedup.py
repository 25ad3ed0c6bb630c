from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from pydantic import ValidationError

from pie.domain.dedup import is_matching_deal
from pie.domain.model import Deal
from pie.domain.plans import MAX_KEY_EVENTS, AccountPlanData, KeyEvent, OpportunityPlanData
from pie.domain.stages import Stage
from pie.domain.summary import summarize

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNT = uuid4()


def deal(stage: Stage, value: int, *, days: float | None = None, **kw: object) -> Deal:
    return Deal(
        id=uuid4(),
        tenant_id=uuid4(),
        name=f"{stage}-{value}",
        account_id=ACCOUNT,
        stage=stage,
        value=Decimal(value),
        created_at=T0,
        updated_at=T0,
        closed_at=T0 + timedelta(days=days) if days is not None else None,
        **kw,  # type: ignore[arg-type]
    )


def test_summary_counts_stages_win_rate_cycle_time_and_largest_open() -> None:
    deals = [
        deal(Stage.CLOSED_WON, 100, days=10),
        deal(Stage.CLOSED_WON, 200, days=30),
        deal(Stage.CLOSED_LOST, 50, days=20),
        *(deal(Stage.PROPOSAL, v) for v in (10, 70, 30, 90, 20, 60, 80)),
    ]
    s = summarize(deals)
    assert (s.won, s.lost, s.open, s.total) == (2, 1, 7, 10)
    assert s.win_rate == pytest.approx(2 / 3)
    assert s.median_cycle_days == pytest.approx(20)
    assert s.by_stage[Stage.PROPOSAL].count == 7
    assert s.open_value == Decimal(360)
    assert [d.value for d in s.largest_open] == [Decimal(v) for v in (90, 80, 70, 60, 30)]


def test_summary_of_nothing_has_no_rates() -> None:
    s = summarize([])
    assert s.win_rate is None and s.median_cycle_days is None and s.total == 0


def test_matching_deal_needs_open_same_account_product_and_close_within_three_months() -> None:
    d = deal(Stage.DEMO, 10, product_line="Analytics", expected_close=date(2026, 6, 1))
    same = {"account_id": ACCOUNT, "product_line": "Analytics"}
    assert is_matching_deal(d, expected_close=date(2026, 8, 15), **same)  # type: ignore[arg-type]
    assert not is_matching_deal(d, expected_close=date(2026, 10, 1), **same)  # type: ignore[arg-type]
    assert not is_matching_deal(
        d, account_id=ACCOUNT, product_line="Payments", expected_close=date(2026, 6, 1)
    )
    assert not is_matching_deal(
        d, account_id=uuid4(), product_line="Analytics", expected_close=date(2026, 6, 1)
    )
    won = deal(Stage.CLOSED_WON, 10, days=5, product_line="Analytics")
    assert not is_matching_deal(won, expected_close=None, **same)  # type: ignore[arg-type]


def test_plans_validate_their_sections_and_cap_history() -> None:
    plan = OpportunityPlanData.model_validate(
        {"qualification_tracking": {"budget": {"status": "confirmed", "confidence": 0.9}}}
    )
    assert plan.qualification_tracking.budget.status == "confirmed"
    with pytest.raises(ValidationError):
        OpportunityPlanData.model_validate(
            {"qualification_tracking": {"budget": {"confidence": 1.5}}}
        )
    with pytest.raises(ValidationError):
        AccountPlanData.model_validate({"unknown_section": {}})
    too_many = [KeyEvent(at=date(2026, 1, 1), summary="x")] * (MAX_KEY_EVENTS + 1)
    with pytest.raises(ValidationError):
        AccountPlanData.model_validate({"relationship_history": {"key_events": too_many}})
