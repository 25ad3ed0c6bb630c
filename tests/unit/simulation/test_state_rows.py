"""The open deals' states read only those deals' rows: ``_members`` finds every row of the
deals asked for (and no other) by binary search in a table sorted by deal, and the states of
the open deals do not depend on the other deals' rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pie.mining.config import MiningConfig
from pie.mining.fit import fit_columns
from pie.simulation.state import _members, deal_states
from tests.unit.mining.gt_world import sample_world
from tests.unit.mining.test_columns import cols_of


@settings(max_examples=200, deadline=None)
@given(
    counts=st.lists(st.integers(0, 4), min_size=1, max_size=12),
    picks=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_the_rows_of_the_deals_asked_for_are_found_in_table_order(
    counts: list[int], picks: list[bool]
) -> None:
    keys = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    rows = np.flatnonzero(picks[: len(counts)]).astype(np.int64)
    index, of = _members(keys, rows)
    expected = np.flatnonzero(np.isin(keys, rows))
    assert index.tolist() == expected.tolist()
    assert rows[of].tolist() == keys[expected].tolist()


def test_open_deals_states_do_not_depend_on_the_closed_deals_rows(tmp_path: Path) -> None:
    histories, _, moment = sample_world(tmp_path, deals=80, seed=3)
    cols = cols_of(histories)
    model = fit_columns(cols, as_of=moment, config=MiningConfig(min_won=3, min_lost=3))
    open_only = cols.take(cols.is_open())
    assert 0 < len(open_only) < len(cols)
    states = deal_states(cols, model, as_of=moment)
    assert len(states) == len(open_only)
    assert states == deal_states(open_only, model, as_of=moment)
