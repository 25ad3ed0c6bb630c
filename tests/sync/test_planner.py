"""The pure planner, property by property: whatever the base, PIE's values and the CRM's,
human-owned fields are never pushed, agent-owned fields never taken from the CRM, equal
values are never a conflict, and carrying out a plan leaves nothing to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from pie.domain.crm_fields import Ownership, RecordKind
from pie.sync.planner import (
    LOCAL,
    REMOTE,
    Local,
    Remote,
    Rule,
    Timing,
    duplicate_rule,
    plan_record,
)

FIELDS = {"a": Ownership.AGENT, "h": Ownership.HUMAN, "s": Ownership.SHARED, "t": Ownership.SHARED}
VALUE = st.sampled_from([None, "x", "y", 1.0])
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
ID = UUID(int=1)


def values() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(dict.fromkeys(FIELDS, VALUE))


@settings(max_examples=300, deadline=None)
@given(
    base=values(),
    local=values(),
    remote=values(),
    seen=st.booleans(),
    local_at=st.integers(-600, 600),
)
def test_ownership_and_a_plan_carried_out_leaves_nothing_to_do(
    base: dict[str, Any], local: dict[str, Any], remote: dict[str, Any], seen: bool, local_at: int
) -> None:
    changed_at = {k: T0 + timedelta(seconds=local_at) for k in FIELDS if local[k] != base[k]}
    r = Remote(remote, T0, "user:alice") if seen else None
    plan = plan_record(
        kind=RecordKind.DEAL,
        pie_id=ID,
        fields=FIELDS,
        base=base,
        local=Local(local, changed_at),
        remote=r,
        timing=Timing(),
    )
    assert "h" not in plan.push  # human-owned: never pushed
    assert "a" not in plan.apply  # agent-owned: never taken from outside
    for c in plan.conflicts:
        assert c.local != c.remote
        assert c.winner in (LOCAL, REMOTE)
        if c.field == "a":
            assert c.winner == LOCAL and c.rule is Rule.AGENT_OWNED
    # carry it out: PIE takes ``apply``, the CRM takes ``push``, the base takes both
    new_local = {**local, **plan.apply}
    new_remote = {**(remote if seen else base), **plan.push}
    new_base = {**base, **plan.agree, **plan.push}
    assert new_local == new_remote  # converged
    again = plan_record(
        kind=RecordKind.DEAL,
        pie_id=ID,
        fields=FIELDS,
        base=new_base,
        local=Local(new_local),
        remote=Remote(new_remote, T0 + timedelta(minutes=5), "bot:pie"),
    )
    assert not again.push and not again.apply and not again.conflicts


@given(offset=st.integers(-3600, 3600), skew=st.sampled_from([-300.0, 0.0, 300.0]))
def test_shared_conflicts_go_to_the_later_side_and_ties_to_the_human(
    offset: int, skew: float
) -> None:
    # the CRM's edit happened at T0 (PIE's clock), reported on its skewed clock, floored
    crm_time = (T0 + timedelta(seconds=skew)).replace(second=0)
    plan = plan_record(
        kind=RecordKind.DEAL,
        pie_id=ID,
        fields={"s": Ownership.SHARED},
        base={"s": "base"},
        local=Local({"s": "pie"}, {"s": T0 + timedelta(seconds=offset)}),
        remote=Remote({"s": "crm"}, crm_time, "user:alice"),
        timing=Timing(precision=60.0, skew=skew, margin=60.0),
    )
    [c] = plan.conflicts
    if abs(offset) <= 60:
        assert (c.winner, c.rule) == (REMOTE, Rule.SHARED_CONCURRENT)
    elif offset > 180:
        assert (c.winner, c.rule) == (LOCAL, Rule.SHARED_LATER)
    elif offset < -180:
        assert (c.winner, c.rule) == (REMOTE, Rule.SHARED_LATER)


@given(
    created_by=st.sampled_from([None, "", "bot:pie", "user:alice"]),
    last_edited_by=st.sampled_from(["", "bot:pie", "user:alice"]),
    self_actor=st.sampled_from(["", "bot:pie"]),
)
def test_only_pie_s_own_untouched_duplicate_is_trashed(
    created_by: str | None, last_edited_by: str, self_actor: str
) -> None:
    """A second page for a linked PIE id is trashed only when PIE's own integration (a known
    actor) made it and is still its last editor; anything a person made or touched, or a
    page whose maker the CRM does not name, is kept for review."""
    rule = duplicate_rule(created_by, last_edited_by, self_actor)
    pie_s_own = bool(self_actor) and created_by == self_actor == last_edited_by
    assert rule is (Rule.DUPLICATE_TRASHED if pie_s_own else Rule.DUPLICATE_KEPT)
