import math

import numpy as np
import pytest

from pie.simulation.metrics import (
    brier_score,
    days_mae,
    expected_calibration_error,
    interval_coverage,
    log_loss,
    reliability_table,
    roc_auc,
)


def test_a_perfect_forecaster_scores_zero_brier_and_full_auc() -> None:
    y = [1, 0, 0, 1, 0]
    assert brier_score(y, y) == 0.0
    assert roc_auc(y, y) == 1.0
    assert expected_calibration_error(y, y) == 0.0


def test_a_coin_scores_a_quarter_brier_log_two_and_half_auc() -> None:
    y = [1, 0, 0, 1, 0, 1, 1]
    p = [0.5] * len(y)
    assert brier_score(p, y) == pytest.approx(0.25)
    assert log_loss(p, y) == pytest.approx(math.log(2))
    assert roc_auc(p, y) == 0.5


def test_random_forecasts_have_auc_near_a_half() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 20_000)
    auc = roc_auc(rng.random(20_000), y)
    assert auc is not None
    assert abs(auc - 0.5) < 0.02


def test_auc_counts_ranked_pairs_and_ties_as_half() -> None:
    # pairs (won, lost): (0.35, 0.1) yes, (0.35, 0.4) no, (0.8, 0.1) yes, (0.8, 0.4) yes
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    # won 0.5 vs lost 0.5 is a tie: (0.5 + 1 + 1 + 1) / 4
    assert roc_auc([0.5, 0.5, 0.2, 0.9], [1, 0, 0, 1]) == pytest.approx(0.875)
    assert roc_auc([0.9, 0.1, 0.2], [0, 1, 1]) == 0.0


def test_auc_is_undefined_with_one_class() -> None:
    assert roc_auc([0.2, 0.7], [1, 1]) is None


def test_brier_and_log_loss_by_hand() -> None:
    p, y = [0.8, 0.3, 0.6], [1, 0, 0]
    assert brier_score(p, y) == pytest.approx((0.04 + 0.09 + 0.36) / 3)
    assert log_loss(p, y) == pytest.approx(-(math.log(0.8) + math.log(0.7) + math.log(0.4)) / 3)


def test_log_loss_clips_certain_misses() -> None:
    assert log_loss([1.0], [0]) == pytest.approx(-math.log(1e-6))
    assert log_loss([0.0, 1.0], [0, 1]) == pytest.approx(-math.log(1 - 1e-6))


def test_ece_and_reliability_by_hand() -> None:
    p = [0.05, 0.05, 0.15, 0.95, 0.95, 0.95, 1.0]
    y = [0, 1, 0, 1, 1, 1, 0]
    table = reliability_table(p, y)
    assert len(table) == 10
    assert [b.count for b in table] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 4]
    assert table[0].lower == 0.0
    assert table[0].upper == pytest.approx(0.1)
    assert table[0].mean_predicted == pytest.approx(0.05)
    assert table[0].observed_rate == 0.5
    assert table[2].mean_predicted is None
    assert table[2].observed_rate is None
    assert table[9].mean_predicted == pytest.approx(0.9625)
    assert table[9].observed_rate == 0.75
    # gaps 0.45 (2 deals), 0.15 (1 deal), 0.2125 (4 deals)
    expected = (2 * 0.45 + 1 * 0.15 + 4 * 0.2125) / 7
    assert expected_calibration_error(p, y) == pytest.approx(expected)


def test_days_error_and_interval_coverage() -> None:
    assert days_mae([10.0, 20.0, 5.0], [12.0, 10.0, 5.0]) == pytest.approx(4.0)
    low, high = [5.0, 5.0, 5.0, 0.0], [15.0, 15.0, 15.0, 1.0]
    assert interval_coverage(low, high, [5.0, 15.0, 16.0, 3.0]) == 0.5


@pytest.mark.parametrize(
    ("p", "y"),
    [([], []), ([0.5], [1, 0]), ([1.5], [1]), ([0.5], [2]), ([float("nan")], [1])],
)
def test_bad_input_is_refused(p: list[float], y: list[int]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        brier_score(p, y)
