"""Ids found and numbered by their first 8 bytes as integers give the same answers as
comparing the whole 16-byte keys, also when different ids share their first 8 bytes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pie.mining.columns import KEY, KeyIndex, numbered

#: ids from few first halves and few second halves: many share their first 8 bytes
halves = st.sampled_from([b"\x00" * 8, b"\x00" * 7 + b"\x01", b"\x7f" * 8, b"\xff" * 8])
ids = st.builds(lambda a, b: a + b, halves | st.binary(min_size=8, max_size=8), halves)


@settings(max_examples=300, deadline=None)
@given(known=st.lists(ids, unique=True, max_size=12), asked=st.lists(ids, max_size=12))
def test_keys_are_found_where_they_are(known: list[bytes], asked: list[bytes]) -> None:
    ordered = np.sort(np.array(known, dtype=KEY))
    queries = np.array(asked, dtype=KEY) if asked else np.zeros(0, KEY)
    where = KeyIndex(ordered).find(queries)
    raw = [bytes(k) for k in ordered.view((np.void, 16)).tolist()]
    assert where.tolist() == [raw.index(k) if k in raw else -1 for k in asked]


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(ids, max_size=15))
def test_keys_are_numbered_as_unique_numbers_them(keys: list[bytes]) -> None:
    array = np.array(keys, dtype=KEY) if keys else np.zeros(0, KEY)
    expected = np.unique(array, return_inverse=True)[1] if keys else np.zeros(0)
    assert numbered(array).tolist() == expected.tolist()
