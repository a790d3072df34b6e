"""The climatology and GARCH baselines: parameters recovered on a known GARCH process, calibrated
intervals, no look-ahead, quantiles in order and widening with the step."""

import numpy as np
import pytest

from stockrnn.evaluation.distribution_baselines import (
    GarchFit,
    climatology_quantiles,
    garch_fit,
    garch_model,
    garch_quantiles,
    garch_variances,
)
from stockrnn.errors import StockrnnError
from stockrnn.evaluation.interval_scores import LEVELS, interval_metrics

TRAIN = (0, 2501)  # 2500 daily changes to fit on; the 1000 after them are the test days
BASELINES = (climatology_quantiles, garch_quantiles)


def garch_t_prices(n=3500, omega=4.5e-6, alpha=0.08, beta=0.9, nu=6.0, seed=0, burn=500):
    """Prices whose log returns follow GARCH(1,1) with standardised Student-t noise (daily sd 1.5%)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_t(nu, n + burn) * np.sqrt((nu - 2) / nu)
    returns, variance = np.empty(n + burn), omega / (1 - alpha - beta)
    for t in range(n + burn):
        returns[t] = np.sqrt(variance) * noise[t]
        variance = omega + alpha * returns[t] ** 2 + beta * variance
    return 100 * np.exp(np.concatenate([[0.0], np.cumsum(returns[burn:])]))


@pytest.fixture(scope="module")
def prices():
    return garch_t_prices()


@pytest.fixture(scope="module")
def fit(prices):
    return garch_fit(prices, TRAIN, "log_return")


def test_garch_recovers_the_parameters_of_the_process(fit):
    assert fit.alpha == pytest.approx(0.08, abs=0.03)
    assert fit.beta == pytest.approx(0.9, abs=0.05)
    assert fit.persistence == pytest.approx(0.98, abs=0.02)
    assert fit.nu == pytest.approx(6, abs=1.5)
    assert fit.n_changes == 2500


def test_both_baselines_cover_later_days_at_about_the_nominal_level(prices, fit):
    anchors = np.arange(TRAIN[1] - 1, len(prices) - 1)  # every day after the training rows
    actual = prices[anchors + 1][:, None]
    garch, climatology = (
        interval_metrics(actual, quantiles, LEVELS)
        for quantiles in (garch_quantiles(prices, TRAIN, anchors, 1, LEVELS, "log_return", fit),
                          climatology_quantiles(prices, TRAIN, anchors, 1, LEVELS, "log_return")))
    assert 0.87 <= garch["coverage_90"] <= 0.93 and 0.77 <= garch["coverage_80"] <= 0.83
    assert 0.85 <= climatology["coverage_90"] <= 0.95
    # On volatility that clusters, the model that follows it scores better.
    assert garch["crps"] < climatology["crps"]


def test_garch_variances_are_archs_own_filter_and_forecasts(prices, fit):
    first, stop = TRAIN
    anchors = np.array([first, first + 1, 100, stop - 2, stop - 1, 3000])
    ours = garch_variances(fit, prices, TRAIN, anchors, 3, "log_return")
    x = np.diff(np.log(prices[:3001])) / fit.unit  # the changes into rows 1..3000
    fixed = garch_model(x).fix(fit.params)
    # From an anchor a > first, arch's forecast from origin a (the change into row a is x[a - 1]).
    origins = anchors[1:] - 1
    forecast = fixed.forecast(horizon=3, start=int(origins.min()), reindex=False).variance.to_numpy()
    expected = np.cumsum(forecast[origins - origins.min()], axis=1) * fit.unit**2
    np.testing.assert_allclose(ours[1:], expected, rtol=1e-10)
    # From the first training row: arch's variance for the first change, which reads only its start-up value.
    assert ours[0, 0] == pytest.approx(fixed.conditional_volatility[0] ** 2 * fit.unit**2, rel=1e-12)
    # Over the training rows the longer filter is the fit's own in-sample one (same start-up value).
    in_sample = garch_model(x[:stop - 1]).fix(fit.params).conditional_volatility
    np.testing.assert_allclose(in_sample, fixed.conditional_volatility[:stop - 1], rtol=1e-12)


@pytest.mark.parametrize("baseline", BASELINES)
def test_no_forecast_reads_a_price_after_its_anchor(prices, baseline):
    anchors = np.arange(TRAIN[1] - 1, TRAIN[1] + 301)
    before = baseline(prices, TRAIN, anchors, 3, LEVELS, "log_return")
    for row in (TRAIN[1], TRAIN[1] + 1, TRAIN[1] + 150, TRAIN[1] + 300):  # test days, each in turn
        changed = prices.copy()
        changed[row] *= 1.2
        after = baseline(changed, TRAIN, anchors, 3, LEVELS, "log_return")
        earlier = anchors < row
        np.testing.assert_array_equal(after[earlier], before[earlier])  # all steps, all levels
        assert not np.allclose(after[anchors == row], before[anchors == row])
    # A training price moves the fit, hence every forecast: the test above can fail.
    changed = prices.copy()
    changed[1000] *= 1.2
    assert not np.allclose(baseline(changed, TRAIN, anchors, 3, LEVELS, "log_return")[0], before[0])


def test_garchs_filter_with_fixed_parameters_reads_no_later_training_price(prices, fit):
    anchors = np.arange(100, 2000)
    before = garch_quantiles(prices, TRAIN, anchors, 2, LEVELS, "log_return", fit)
    changed = prices.copy()
    changed[1500] *= 1.2
    after = garch_quantiles(changed, TRAIN, anchors, 2, LEVELS, "log_return", fit)
    np.testing.assert_array_equal(after[anchors < 1500], before[anchors < 1500])
    assert not np.allclose(after[anchors >= 1500], before[anchors >= 1500])


@pytest.mark.parametrize("transform", ["log_return", "diff", "level"])
@pytest.mark.parametrize("baseline", BASELINES)
def test_quantiles_ascend_and_widen_with_the_step(prices, baseline, transform):
    anchors = np.arange(TRAIN[1] - 1, TRAIN[1] + 200)
    quantiles = baseline(prices, TRAIN, anchors, 3, LEVELS, transform)
    assert quantiles.shape == (len(anchors), 3, len(LEVELS))
    assert np.all(np.diff(quantiles, axis=-1) > 0)
    width_90 = quantiles[..., -1] - quantiles[..., 0]
    assert np.all(np.diff(width_90, axis=1) > 0)
    # The median sits near persistence: the baselines forecast the spread, not the move.
    median = quantiles[..., LEVELS.index(0.5)]
    assert np.all(np.abs(median / prices[anchors][:, None] - 1) < 0.01)


def test_climatology_is_persistence_plus_the_training_changes_quantiles(prices):
    anchors = np.array([TRAIN[1] - 1, 3000])
    quantiles = climatology_quantiles(prices, TRAIN, anchors, 2, LEVELS, "diff")
    train = prices[:TRAIN[1]]
    two_day = np.quantile(train[2:] - train[:-2], LEVELS)
    np.testing.assert_allclose(quantiles[:, 1], prices[anchors][:, None] + two_day)
    log = climatology_quantiles(prices, TRAIN, anchors, 1, LEVELS, "log_return")
    one_day = np.quantile(np.diff(np.log(train)), LEVELS)
    np.testing.assert_allclose(log[:, 0], prices[anchors][:, None] * np.exp(one_day))


def test_price_changes_are_fit_in_units_of_their_training_spread(prices):
    diff = garch_fit(prices, TRAIN, "diff")
    assert diff.unit == pytest.approx(np.std(np.diff(prices[:TRAIN[1]])))
    assert garch_fit(prices, TRAIN, "level") == diff  # a level target's random walk is in changes


def test_a_training_range_too_short_to_fit_is_named(prices):
    with pytest.raises(StockrnnError, match=r"GARCH baseline needs at least 250 one-day changes .* has 200"):
        garch_quantiles(prices, (0, 200), np.array([250]), 1, LEVELS, "log_return")
    with pytest.raises(StockrnnError,
                       match=r"climatology baseline needs at least 20 3-day changes .* has 22"):
        climatology_quantiles(prices, (0, 22), np.array([30]), 3, LEVELS, "diff")
    flat = np.full(400, 50.0)
    with pytest.raises(StockrnnError, match="does not change over the training rows"):
        garch_fit(flat, (0, 300), "diff")


def test_garch_fit_round_trips_archs_parameter_order(fit):
    assert GarchFit(*fit.params, fit.unit, fit.n_changes) == fit
