"""Scores of quantile forecasts: hand-computed CRPS, pinball loss, interval score, coverage and width."""

import numpy as np
import pytest
import scoringrules as sr

from stockrnn.errors import StockrnnError
from stockrnn.evaluation.interval_scores import LEVELS, crps_per_window, interval_metrics

STEPS = np.arange(7.0)  # quantiles at LEVELS: 0, 1, ..., 6 above a base


def three_targets():
    """One target inside every interval, one above them all, one on the 80% interval's lower bound."""
    actual = np.array([[2.5], [17.0], [1.0]])
    quantiles = np.stack([STEPS, 10 + STEPS, STEPS])[:, None, :]
    return actual, quantiles


def test_interval_metrics_by_hand():
    metrics = interval_metrics(*three_targets(), LEVELS)
    assert set(metrics) == {"crps", "pinball", "coverage_50", "coverage_80", "coverage_90", "width_80",
                            "width_90", "interval_score_90"}
    # Pinball losses a(y - q) above q, (1 - a)(q - y) below, summed over the 7 levels:
    # 1.45 (y=2.5 in 0..6), 9.2 (y=17 above 10..16), 3.2 (y=1 in 0..6).
    assert metrics["pinball"] == pytest.approx((1.45 + 9.2 + 3.2) / 21)
    assert metrics["crps"] == pytest.approx(2 * (1.45 + 9.2 + 3.2) / 21)
    # [2, 4] holds 2.5 only; [1, 5] and [0, 6] hold 2.5 and the 1 on the bound (inclusive), not 17.
    assert metrics["coverage_50"] == pytest.approx(1 / 3)
    assert metrics["coverage_80"] == metrics["coverage_90"] == pytest.approx(2 / 3)
    assert metrics["width_80"] == 4.0 and metrics["width_90"] == 6.0
    # Width 6 each, plus 2 / 0.1 times the miss of 17 above 16.
    assert metrics["interval_score_90"] == pytest.approx((6 + 6 + 26) / 3)


def test_interval_metrics_equal_the_librarys_scores():
    rng = np.random.default_rng(0)
    actual = rng.normal(100, 3, size=(40, 3))
    quantiles = np.sort(rng.normal(100, 3, size=(40, 3, len(LEVELS))), axis=-1)
    metrics = interval_metrics(actual, quantiles, LEVELS)
    levels = np.array(LEVELS)
    assert metrics["crps"] == pytest.approx(
        np.mean(sr.crps_quantile(actual, quantiles, levels, backend="numpy")))
    assert metrics["pinball"] == pytest.approx(
        np.mean(sr.quantile_score(actual[..., None], quantiles, levels, backend="numpy")))
    assert metrics["interval_score_90"] == pytest.approx(
        np.mean(sr.interval_score(actual, quantiles[..., 0], quantiles[..., -1], 0.1, backend="numpy")))


def test_crps_per_window_by_hand_on_any_levels():
    levels = (0.1, 0.5, 0.9)
    actual = np.array([[10.0, 14.0], [5.0, 20.0]])
    quantiles = np.array([[[8, 10, 12], [9, 11, 13]], [[6, 7, 8], [17, 18, 19]]], dtype=float)
    # Twice the mean pinball loss over the 3 levels, then the mean over the 2 steps:
    # window 1: (0.2 + 0 + 0.2) and (0.5 + 1.5 + 0.9); window 2: (0.9 + 1 + 0.3) and (0.3 + 1 + 0.9).
    expected = [(2 * 0.4 / 3 + 2 * 2.9 / 3) / 2, 2 * 2.2 / 3]
    np.testing.assert_allclose(crps_per_window(actual, quantiles, levels), expected)


def test_crps_reads_every_level_given_and_the_intervals_read_theirs():
    actual, quantiles = three_targets()
    levels = (0.01, *LEVELS, 0.99)
    wider = np.concatenate([quantiles[..., :1] - 100, quantiles, quantiles[..., -1:] + 100], axis=-1)
    metrics, plain = interval_metrics(actual, wider, levels), interval_metrics(actual, quantiles, LEVELS)
    assert metrics["crps"] > plain["crps"]  # the far-off extra quantiles cost
    assert {k: metrics[k] for k in metrics if k not in ("crps", "pinball")} == \
        {k: plain[k] for k in plain if k not in ("crps", "pinball")}


def test_missing_levels_are_named():
    actual, quantiles = three_targets()
    with pytest.raises(StockrnnError, match=r"lack \[0\.05, 0\.95\]"):
        interval_metrics(actual, quantiles[..., 1:-1], LEVELS[1:-1])
