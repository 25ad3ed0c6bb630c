"""Is there evidence in the data that a context factor changes the odds of winning?

A factor (a champion, an unresolved blocker, recent engagement) is estimated, shown and
recommended on only when the data has enough closed deals both with and without it:
``MIN_DEALS_EACH`` of each (``MiningConfig.min_evidence_deals``). Below that the miner ignores
the factor (every deal is treated as without it) and PIE says there is not enough evidence.

The effect is the Mantel-Haenszel odds ratio of winning with the factor against without it,
stratified by stage: one row per stage visit of a deal closed by ``as_of``, the factor as known
when the visit started. Its 95% interval uses the Robins-Breslow-Greenland variance, inflated
by the mean number of visits per deal (a deal's visits are not independent). The effect is
*supported* when the interval excludes 1 (no effect); only supported effects are recommended on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .events import LOST, N_STAGES, WON

Z95 = 1.959963984540054
#: The documented minimum: closed deals with, and closed deals without, a factor.
MIN_DEALS_EACH = 30
#: Factors that scenarios act on, with what "with" means for each.
FACTOR_LABELS: dict[str, str] = {
    "has_champion": "a champion",
    "unresolved_blocker": "an unresolved blocker",
    "engaged_recently": "recent activity",
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the data says about one factor."""

    factor: str
    with_deals: int  # closed deals with the factor at some visit
    without_deals: int  # closed deals without it at some visit
    minimum: int  # deals needed on each side
    odds_ratio: float | None  # of winning, with vs without; None without enough deals
    odds_ratio_ci: tuple[float, float] | None

    @property
    def enough(self) -> bool:
        return min(self.with_deals, self.without_deals) >= self.minimum

    @property
    def supported(self) -> bool:
        """Enough deals, and the interval excludes no effect."""
        ci = self.odds_ratio_ci
        return self.enough and ci is not None and (ci[0] > 1.0 or ci[1] < 1.0)

    @property
    def deals(self) -> int:
        return self.with_deals + self.without_deals

    def message(self) -> str:
        label = FACTOR_LABELS.get(self.factor, self.factor)
        counts = f"{self.with_deals} closed deals with {label}, {self.without_deals} without"
        if not self.enough:
            return f"not enough evidence on {label}: {counts} (needs {self.minimum} of each)"
        assert self.odds_ratio is not None and self.odds_ratio_ci is not None
        lo, hi = self.odds_ratio_ci
        odds = f"odds of winning x{self.odds_ratio:.2f} [{lo:.2f}, {hi:.2f}]"
        if not self.supported:
            return f"no clear effect of {label}: {odds}, {counts}"
        return f"{label}: {odds}, {counts}"

    def to_dict(self) -> dict[str, object]:
        return {
            "factor": self.factor,
            "with_deals": self.with_deals,
            "without_deals": self.without_deals,
            "minimum": self.minimum,
            "odds_ratio": self.odds_ratio,
            "odds_ratio_ci": list(self.odds_ratio_ci) if self.odds_ratio_ci else None,
            "supported": self.supported,
            "message": self.message(),
        }


def evidence(
    factor: str,
    present: NDArray[np.bool_],
    deal: NDArray[np.intp],
    stage: NDArray[np.intp],
    outcome: NDArray[np.intp],
    minimum: int = MIN_DEALS_EACH,
) -> Evidence:
    """``present``, ``deal`` and ``stage`` per visit; ``outcome`` per deal (WON, LOST, ...)."""
    final = outcome[deal] if deal.size else np.zeros(0, np.intp)
    closed = (final == WON) | (final == LOST)
    x, d, s = present[closed], deal[closed], stage[closed]
    y = final[closed] == WON
    n_with = _distinct(d[x], outcome.size)
    n_without = _distinct(d[~x], outcome.size)
    if min(n_with, n_without) < minimum:
        return Evidence(factor, n_with, n_without, minimum, None, None)
    per_deal = x.size / max(_distinct(d, outcome.size), 1)
    ratio, ci = _mantel_haenszel(x, y, s, inflate=per_deal)
    return Evidence(factor, n_with, n_without, minimum, ratio, ci)


def _distinct(deal: NDArray[np.intp], n_deals: int) -> int:
    """How many deals ``deal`` (rows 0 .. ``n_deals`` - 1) names: a mark per deal (a hashed or
    sorted ``unique`` of the visits cost most of a fit's evidence)."""
    seen = np.zeros(n_deals, dtype=np.bool_)
    seen[deal] = True
    return int(np.count_nonzero(seen))


def _mantel_haenszel(
    x: NDArray[np.bool_], y: NDArray[np.bool_], stratum: NDArray[np.intp], *, inflate: float
) -> tuple[float | None, tuple[float, float] | None]:
    def cell(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
        return np.bincount(stratum[mask], minlength=N_STAGES).astype(np.float64) + 0.5

    a, b = cell(x & y), cell(x & ~y)  # with: won, lost (+0.5: Haldane)
    c, d = cell(~x & y), cell(~x & ~y)  # without: won, lost
    used = np.bincount(stratum, minlength=N_STAGES) > 0
    a, b, c, d = a[used], b[used], c[used], d[used]
    n = a + b + c + d
    r, s = a * d / n, b * c / n
    if r.sum() <= 0 or s.sum() <= 0:
        return None, None
    ratio = float(r.sum() / s.sum())
    p, q = (a + d) / n, (b + c) / n
    var = (
        (p * r).sum() / (2 * r.sum() ** 2)
        + ((p * s + q * r).sum()) / (2 * r.sum() * s.sum())
        + (q * s).sum() / (2 * s.sum() ** 2)
    )
    half = Z95 * math.sqrt(var * max(inflate, 1.0))
    log_or = math.log(ratio)
    return ratio, (math.exp(log_or - half), math.exp(log_or + half))
