"""Rows read in any order come out as ``ORDER BY deal, key`` would give them, ties in the order
they were read, unknown deals (-1) left out: ``by_deal`` equals a stable ``lexsort``."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pie.mining.columns import KEY, by_deal


def expected(deal: np.ndarray, key: np.ndarray | None) -> np.ndarray:
    keep = np.flatnonzero(deal >= 0)
    if key is None:
        return keep[np.argsort(deal[keep], kind="stable")]
    return keep[np.lexsort((key[keep], deal[keep]))]


def rows(found: np.ndarray | slice, n: int) -> np.ndarray:
    return np.arange(n)[found]


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(-1, 5), st.integers(0, 4)), max_size=40),
    grouped=st.booleans(),
)
def test_rows_come_by_deal_then_time_ties_as_read(
    pairs: list[tuple[int, int]], grouped: bool
) -> None:
    if grouped:  # as a store holds them: each deal's rows together, mostly in time order
        pairs = sorted(pairs, key=lambda p: (p[0] * 7919) % 13)
    deal = np.array([d for d, _ in pairs], dtype=np.int32)
    us = np.array([t for _, t in pairs], dtype=np.int64)
    assert np.array_equal(rows(by_deal(deal, us), deal.size), expected(deal, us))
    assert np.array_equal(rows(by_deal(deal), deal.size), expected(deal, None))


@settings(max_examples=100, deadline=None)
@given(deals=st.lists(st.integers(0, 4), max_size=30), data=st.data())
def test_rows_come_by_deal_then_id(deals: list[int], data: st.DataObject) -> None:
    ids = data.draw(
        st.lists(
            st.binary(min_size=16, max_size=16),
            min_size=len(deals),
            max_size=len(deals),
            unique=True,
        )
    )
    deal = np.array(deals, dtype=np.int32)
    key = np.array(ids, dtype=KEY)
    assert np.array_equal(rows(by_deal(deal, key), deal.size), expected(deal, key))
