"""A calibration map for win probabilities: per stage group, ``P' = sigmoid(a + b logit P)``.

It is fitted on the tenant's own past (``pie.simulation.calibration``), stored with the model
(``ProcessModel.calibration``) and applied to every P(win) PIE shows. The stage groups are
those the back-test's verdict judges: early stages, late stages and stalled deals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pie.domain.stages import Stage

Float = NDArray[np.float64]
EARLY = frozenset({Stage.LEAD, Stage.QUALIFICATION, Stage.DISCOVERY})
LATE = frozenset({Stage.DEMO, Stage.PROPOSAL, Stage.NEGOTIATION})
GROUPS: tuple[tuple[str, frozenset[Stage]], ...] = (
    ("early stages", EARLY),
    ("late stages", LATE),
    ("stalled deals", frozenset({Stage.STALLED})),
)
_EPS = 1e-4


def group_of(stage: Stage | None) -> int:
    for i, (_, stages) in enumerate(GROUPS):
        if stage in stages:
            return i
    return 0


def logit(p: Float) -> Float:
    q = np.clip(p, _EPS, 1 - _EPS)
    out: Float = np.log(q / (1 - q))
    return out


@dataclass(frozen=True, slots=True)
class CalibrationMap:
    """Per stage group: (intercept, slope) on the logit scale; the identity by default. The
    slope is kept positive, so the map keeps the order of probabilities."""

    coefficients: tuple[tuple[float, float], ...] = ((0.0, 1.0),) * len(GROUPS)
    n: int = 0  # past forecasts it was fitted on

    def apply(self, p: Float, groups: NDArray[np.intp]) -> Float:
        coef = np.array(self.coefficients)[groups]
        out: Float = 1.0 / (1.0 + np.exp(-(coef[:, 0] + coef[:, 1] * logit(p))))
        return np.where((p <= 0) | (p >= 1), p, out)  # certainties stay certain

    @property
    def is_identity(self) -> bool:
        return all(c == (0.0, 1.0) for c in self.coefficients)
