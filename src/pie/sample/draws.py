"""Buffered random draws: numpy fills blocks, Python reads them one at a time.

Calling a ``numpy.random.Generator`` for one number costs about a microsecond; reading a float
from a list costs a few nanoseconds. The generator is passed in, so a seed fixes every draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_BLOCK = 16_384


class Draws:
    def __init__(self, rng: np.random.Generator, block: int = _BLOCK) -> None:
        self._rng = rng
        self._block = block
        self._u: list[float] = []
        self._ui = 0
        self._n: list[float] = []
        self._ni = 0
        self._g: dict[float, tuple[list[float], int]] = {}

    def uniform(self) -> float:
        if self._ui >= len(self._u):
            self._u = self._rng.random(self._block).tolist()
            self._ui = 0
        x = self._u[self._ui]
        self._ui += 1
        return x

    def normal(self) -> float:
        if self._ni >= len(self._n):
            self._n = self._rng.standard_normal(self._block).tolist()
            self._ni = 0
        x = self._n[self._ni]
        self._ni += 1
        return x

    def gamma(self, shape: float, scale: float) -> float:
        buf, i = self._g.get(shape, ([], 0))
        if i >= len(buf):
            buf, i = self._rng.standard_gamma(shape, self._block).tolist(), 0
        self._g[shape] = (buf, i + 1)
        return buf[i] * scale

    def chance(self, p: float) -> bool:
        return self.uniform() < p

    def index(self, n: int) -> int:
        return min(int(self.uniform() * n), n - 1)

    def pick(self, items: Sequence[str]) -> str:
        return items[self.index(len(items))]

    def poisson(self, lam: float, cap: int) -> int:
        """A Poisson(lam) count, capped at ``cap`` (inverse transform on one uniform)."""
        u = self.uniform()
        k, p = 0, pow(2.718281828459045, -lam)
        cdf = p
        while u > cdf and k < cap:
            k += 1
            p *= lam / k
            cdf += p
        return k
