"""The columnar path gives exactly what the object path gives: the same snapshots, visit
tables, models, outcomes and deal states, on messy generated histories (ties in time,
corrections, re-openings, objections resolved with and without dates, blockers among the
participants) and on the sample world, at the latest data and at past cutoffs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie.domain.history import DealHistory
from pie.domain.model import (
    Account,
    Activity,
    ActivityType,
    Deal,
    EntityKind,
    Objection,
    StageTransition,
    Stakeholder,
    StakeholderRole,
    derive_id,
)
from pie.domain.stages import ALL_STAGES, Stage
from pie.mining import columns
from pie.mining.config import MiningConfig
from pie.mining.events import visit_table
from pie.mining.fit import fit, fit_columns
from pie.mining.model import ProcessModel
from pie.mining.snapshot import as_of, data_end, outcomes_after
from pie.simulation.state import deal_state, deal_states
from pie.simulation.streams import stream_identity
from tests.helpers_world import TENANT, day

from .gt_world import sample_world

SMALL = MiningConfig(min_won=3, min_lost=3, min_evidence_deals=2)


def cols_of(histories: Sequence[DealHistory]) -> columns.DealColumns:
    return columns.from_histories(histories, identity=stream_identity)


def _eq(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def assert_same_model(a: ProcessModel, b: ProcessModel) -> None:
    assert a.sufficiency == b.sufficiency
    assert a.icp_industries == b.icp_industries
    assert a.median_value == b.median_value or (
        np.isnan(a.median_value) and np.isnan(b.median_value)
    )
    assert a.ignored == b.ignored
    assert a.evidence == b.evidence
    for f in ("events", "exposure", "at_risk"):
        assert _eq(getattr(a.counts, f), getattr(b.counts, f)), f
    assert _eq(a.rates, b.rates)
    assert a.arrivals is not None and b.arrivals is not None
    for f in ("rates", "events", "exposure"):
        assert _eq(getattr(a.arrivals, f), getattr(b.arrivals, f)), f


def assert_same_world(histories: Sequence[DealHistory], cut: datetime) -> None:
    """Snapshot, visit table, model, outcomes and open deals' states agree at ``cut``."""
    cols = cols_of(histories)
    end = data_end(histories)
    assert columns.data_end(cols) == end
    assert end is not None
    world = as_of(histories, cut) if cut <= end else list(histories)
    cut_cols = columns.snapshot(cols, cut) if cut <= end else cols
    ref = cols_of(world)
    assert ref.industry_names() == cut_cols.industry_names()
    # codes may be numbered differently; participants of deals without objections may stay
    codes = ("industries", "industry", "s_contact", "p_contact", "p_act")
    for f in dataclasses.fields(ref):
        if f.name in codes:
            continue
        x, y = getattr(ref, f.name), getattr(cut_cols, f.name)
        if isinstance(x, np.ndarray):
            assert _eq(x, y) or (x.dtype == object and list(x) == list(y)), f.name
        else:
            assert x == y, f.name
    vo, vc = visit_table(world, as_of=cut), columns.visit_table(cut_cols, as_of=cut)
    for name in vo.__slots__:
        assert _eq(getattr(vo, name), getattr(vc, name)), name
    for config in (SMALL, MiningConfig()):
        mo = fit(world, as_of=cut, config=config)
        mc = fit_columns(cut_cols, as_of=cut, config=config)
        assert_same_model(mo, mc)
        open_deals = [h for h in world if h.deal.is_open]
        expected = [deal_state(h, mo, as_of=cut) for h in open_deals]
        assert deal_states(cut_cols, mc, as_of=cut) == expected
    if cut <= end:
        for horizon in (None, 30):
            assert columns.outcomes_after(cols, cut, horizon, end=end) == outcomes_after(
                histories, cut, horizon, end=end
            )


# --- messy histories ---------------------------------------------------------------------

OPEN = [s for s in ALL_STAGES if s.is_open]
CLOSED = [Stage.CLOSED_WON, Stage.CLOSED_LOST]


@st.composite
def histories(draw: st.DrawFn) -> list[DealHistory]:
    n = draw(st.integers(1, 8))
    out = []
    people = [derive_id(TENANT, EntityKind.CONTACT, "t", f"p{i}") for i in range(5)]
    whole = st.integers(0, 40)  # coarse days: ties are common
    for i in range(n):
        key = f"d{i}"
        deal_id = derive_id(TENANT, EntityKind.DEAL, "t", key)
        created = draw(whole)
        moves = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(OPEN + CLOSED),
                    whole,
                    st.none() | st.integers(1, 9),
                    st.none() | st.floats(0, 5),
                    st.booleans(),
                    st.none() | st.sampled_from([0.1, 0.5, 0.9]),
                ),
                max_size=6,
            )
        )
        transitions = []
        prev: Stage | None = draw(st.none() | st.sampled_from(OPEN))
        for j, (to, at, value, din, keep_prev, prob) in enumerate(
            sorted(moves, key=lambda m: m[1])
        ):
            transitions.append(
                StageTransition(
                    id=derive_id(TENANT, EntityKind.STAGE_TRANSITION, "t", f"{key}#{j}"),
                    tenant_id=TENANT,
                    deal_id=deal_id,
                    from_stage=prev if keep_prev or j else None,
                    to_stage=to,
                    at=day(created + at),
                    days_in_from_stage=din,
                    value=None if value is None else Decimal(value * 1000),
                    probability=prob,
                )
            )
            prev = to
        stage = transitions[-1].to_stage if transitions else draw(st.sampled_from(ALL_STAGES))
        closed_day = draw(st.none() | whole)
        closed_at = None if closed_day is None else day(created + closed_day)
        acts = []
        for j, (at, who, objections) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        whole,
                        st.lists(st.sampled_from(people), max_size=2),
                        st.lists(st.tuples(st.booleans(), st.none() | whole), max_size=2),
                    ),
                    max_size=5,
                )
            )
        ):
            acts.append(
                Activity(
                    id=derive_id(TENANT, EntityKind.ACTIVITY, "t", f"{key}@{j}"),
                    tenant_id=TENANT,
                    deal_id=deal_id,
                    account_id=None,
                    type=ActivityType.CALL,
                    occurred_at=day(created + at),
                    participants=tuple(who),
                    objections=tuple(
                        Objection(
                            objection="x",
                            resolved=res,
                            resolution="ok" if res else None,
                            resolved_at=None if when is None else day(created + when),
                        )
                        for res, when in objections
                    ),
                )
            )
        stakeholders = [
            Stakeholder(
                id=derive_id(TENANT, EntityKind.STAKEHOLDER, "t", f"{key}/{j}"),
                tenant_id=TENANT,
                account_id=None,
                deal_id=deal_id,
                contact_id=who,
                roles=tuple(roles),
                created_at=day(created + at),
                updated_at=day(created + at + 5),
            )
            for j, (who, roles, at) in enumerate(
                draw(
                    st.lists(
                        st.tuples(
                            st.sampled_from(people),
                            st.lists(
                                st.sampled_from([StakeholderRole.CHAMPION, StakeholderRole.BLOCKER])
                            ),
                            whole,
                        ),
                        max_size=3,
                    )
                )
            )
        ]
        industry = draw(st.sampled_from([None, "saas", "retail"]))
        account = None
        if industry is not None:
            account = Account(
                id=derive_id(TENANT, EntityKind.ACCOUNT, "t", industry),
                tenant_id=TENANT,
                name=industry,
                industry=industry,
                created_at=day(0),
                updated_at=day(0),
            )
        deal = Deal(
            id=deal_id,
            tenant_id=TENANT,
            name=key,
            account_id=account.id if account else None,
            stage=stage,
            value=draw(st.none() | st.integers(1, 9).map(lambda v: Decimal(v * 1000))),
            probability=draw(st.none() | st.sampled_from([0.2, 0.7])),
            created_at=day(created),
            updated_at=day(created),
            closed_at=closed_at if stage.is_closed else None,
            external_ids={"t": key} if i % 2 else {},
            source="t",
        )
        out.append(
            DealHistory(
                deal=deal,
                account=account,
                transitions=tuple(transitions),
                stakeholders=tuple(stakeholders),
                activities=tuple(sorted(acts, key=lambda a: a.occurred_at)),
            )
        )
    return sorted(out, key=lambda h: h.deal.id)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.integers(0, 90), st.integers(0, 3600))
def test_the_columns_give_what_the_objects_give(
    world: list[DealHistory], cut_day: int, seconds: int
) -> None:
    end = data_end(world)
    assert end is not None
    for cut in (day(cut_day) + timedelta(seconds=seconds), end + timedelta(seconds=1)):
        if cut > min(h.deal.created_at for h in world):
            assert_same_world(world, cut)


@pytest.mark.parametrize("back_days", [0, 120, 300])
def test_the_sample_world_mines_the_same_from_columns(tmp_path: Path, back_days: int) -> None:
    world, _, _ = sample_world(tmp_path, deals=300, seed=5)
    end = data_end(world)
    assert end is not None
    assert_same_world(world, end + timedelta(seconds=1) - timedelta(days=back_days))


def test_a_contact_is_one_contact_however_its_id_is_spelled() -> None:
    ids = [derive_id(TENANT, EntityKind.CONTACT, "t", f"c{i}") for i in range(3)]
    canonical = columns.contact_keys([str(i) for i in ids])
    assert canonical.tolist() == columns.hex_keys([i.hex for i in ids]).tolist()
    assert [bytes(k).ljust(16, b"\0") for k in canonical.tolist()] == [i.bytes for i in ids]
    odd = [str(ids[0]).upper(), ids[1].hex, "{" + str(ids[2]) + "}"]
    assert columns.contact_keys(odd).tolist() == canonical.tolist()
    with pytest.raises(ValueError, match="hexadecimal UUID"):
        columns.contact_keys(["not-a-contact-id"])


def test_deal_ids_come_back_whole_from_their_keys() -> None:
    """Ids whose last bytes are zero too (a 16-byte key drops trailing zeros when read as
    bytes): as UUIDs and as their text."""
    ids = [derive_id(TENANT, EntityKind.CONTACT, "t", f"d{i}") for i in range(5)]
    ids += [UUID(int=0), UUID(int=1 << 64)]
    cols = dataclasses.replace(
        columns.from_histories([], identity=stream_identity),
        ids=columns.hex_keys([i.hex for i in ids]),
    )
    assert cols.deal_ids() == ids
    assert [cols.deal_id(i) for i in range(len(ids))] == ids
    assert cols.id_texts() == [str(i) for i in ids]
