"""How far to trust the forecasts, in one line a sales leader can read.

The back-test's forecasts are grouped into early stages (lead to discovery), late stages (demo
to negotiation) and stalled deals. A group is miscalibrated when its mean forecast is at least
``MATERIAL`` (3 points) away from its observed win rate and further than two standard errors
(so noise in a small group is not called a bias); groups with fewer than ``MIN_GROUP`` scored
forecasts are not judged, and "well calibrated" is said only when all the forecasts together
could have shown a 5-point gap (two standard errors of at most 5 points).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pie.domain.stages import Stage
from pie.mining.calibration_map import EARLY, GROUPS, LATE

__all__ = ["EARLY", "GROUPS", "LATE", "Gap", "gaps", "verdict"]

MATERIAL = 0.03
MIN_GROUP = 30


@dataclass(frozen=True, slots=True)
class Gap:
    group: str
    n: int
    mean_p_win: float
    observed: float

    @property
    def gap(self) -> float:
        return self.mean_p_win - self.observed

    @property
    def se(self) -> float:
        return math.sqrt(max(self.observed * (1 - self.observed), 0.01) / self.n)

    @property
    def material(self) -> bool:
        return abs(self.gap) >= MATERIAL and abs(self.gap) > 2 * self.se

    def text(self) -> str:
        kind = "over-confident" if self.gap > 0 else "under-confident"
        return f"{kind} by {abs(self.gap) * 100:.0f} points in {self.group}"


def gaps(rows: Sequence[tuple[Stage | None, float, bool]]) -> list[Gap]:
    """(stage, forecast, won) rows: the gap of each group with enough forecasts, then all."""
    out = []
    for name, stages in (*GROUPS, ("all stages", frozenset(Stage))):
        sel = [(p, y) for s, p, y in rows if s in stages or name == "all stages"]
        if len(sel) >= MIN_GROUP:
            n = len(sel)
            out.append(Gap(name, n, sum(p for p, _ in sel) / n, sum(y for _, y in sel) / n))
    return out


def verdict(rows: Sequence[tuple[Stage | None, float, bool]], ece: float | None) -> str:
    """ "well calibrated", "over-confident by 6 points in early stages", ..."""
    found = gaps(rows)
    if not found or ece is None:
        return f"not enough closed deals to judge calibration (needs {MIN_GROUP})"
    by_group = [g for g in found if g.material and g.group != "all stages"]
    overall = found[-1]
    if by_group:
        return "; ".join(g.text() for g in by_group) + f" (ECE {ece:.3f})"
    if overall.material:
        return overall.text() + f" (ECE {ece:.3f})"
    worst = max(abs(g.gap) for g in found) * 100
    if 2 * overall.se > MATERIAL + 0.02:
        return (
            f"no clear miscalibration, but {overall.n} scored forecasts are too few to call it "
            f"well calibrated (ECE {ece:.3f})"
        )
    return (
        f"well calibrated: on average within {max(worst, 1):.0f} points of what happened "
        f"in every stage group (ECE {ece:.3f})"
    )
