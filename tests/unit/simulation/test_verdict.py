"""The one-line calibration verdict."""

from __future__ import annotations

import numpy as np

from pie.domain.stages import Stage
from pie.simulation.verdict import verdict


def _rows(
    stage: Stage, p: float, rate: float, n: int, seed: int
) -> list[tuple[Stage, float, bool]]:
    """``n`` forecasts ``p`` of which exactly ``rate`` were won, in a shuffled order."""
    won = np.arange(n) < round(rate * n)
    np.random.default_rng(seed).shuffle(won)
    return [(stage, p, bool(w)) for w in won]


def test_calibrated_forecasts_are_called_well_calibrated() -> None:
    rows = _rows(Stage.LEAD, 0.3, 0.3, 2000, 1) + _rows(Stage.DEMO, 0.7, 0.7, 2000, 2)
    assert verdict(rows, 0.01).startswith("well calibrated")


def test_over_confidence_in_early_stages_is_named_with_its_size() -> None:
    rows = _rows(Stage.LEAD, 0.39, 0.33, 3000, 1) + _rows(Stage.DEMO, 0.7, 0.7, 2000, 2)
    assert verdict(rows, 0.06).startswith("over-confident by 6 points in early stages")


def test_a_small_group_is_not_judged_on_noise() -> None:
    late = _rows(Stage.DEMO, 0.7, 0.7, 2000, 2)
    assert "early" not in verdict(_rows(Stage.LEAD, 0.5, 0.3, 25, 1) + late, 0.02)  # too few
    assert "early" not in verdict(_rows(Stage.LEAD, 0.35, 0.3, 100, 1) + late, 0.02)  # < 2 SE
    assert "early" in verdict(_rows(Stage.LEAD, 0.35, 0.3, 2000, 1) + late, 0.02)
    assert verdict([], None).startswith("not enough closed deals")


def test_few_forecasts_are_not_called_well_calibrated() -> None:
    rows = _rows(Stage.LEAD, 0.5, 0.5, 40, 1) + _rows(Stage.DEMO, 0.5, 0.5, 40, 2)
    assert verdict(rows, 0.08).startswith("no clear miscalibration, but 80 scored forecasts")
