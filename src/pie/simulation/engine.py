"""Where the Monte Carlo work runs: in this process (the default) or on an engine that maps a
function over parts of the work elsewhere (``pie.adapters.dask_engine``: a Dask cluster).

Work is split by deal. Each deal draws from its own random stream (``streams``), keyed on the
run key and its identity only, and parts are put back together in their order, adding partial
sums in the same order as in this process: the numbers are identical wherever they ran.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: deals per part sent to an engine (a multiple of nothing in particular: any split gives the
#: same numbers; bigger parts mean fewer tasks)
PART_DEALS = 2_000


class Engine(Protocol):
    """Maps ``fn`` over ``items`` and returns the results in the order of ``items``."""

    name: str

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]: ...


class InProcess:
    name = "local"

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        return [fn(x) for x in items]


IN_PROCESS = InProcess()


def parts(n: int, size: int) -> list[slice]:
    """``n`` items in consecutive slices of at most ``size`` (at least one slice)."""
    size = max(size, 1)
    return [slice(lo, min(lo + size, n)) for lo in range(0, max(n, 1), size)]
