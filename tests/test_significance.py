"""Diebold-Mariano and Pesaran-Timmermann: the library's figures, one-sided, and what they say."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.diagnostic import pesaran_timmermann
from statsmodels.tsa.stattools import diebold_mariano_test

from stockrnn.evaluation.significance import diebold_mariano, direction_test, significance, verdicts


def random_walk(n=250, seed=0):
    rng = np.random.default_rng(seed)
    prices = 100 + np.cumsum(rng.normal(0, 1, n + 1))
    return prices[1:, None], prices[:-1], rng  # actual (windows x 1), last known, generator


def test_diebold_mariano_is_the_librarys_hln_statistic_made_one_sided():
    actual, last, rng = random_walk()
    model = actual + rng.normal(0, 0.9, actual.shape)
    baseline = np.repeat(last[:, None], 1, axis=1)
    statistic, pvalue = diebold_mariano(actual, model, baseline)
    library = diebold_mariano_test(actual[:, 0], model[:, 0], baseline[:, 0], lags=0, harvey_adj=True)
    assert statistic == pytest.approx(library.statistic, rel=1e-12)
    # One-sided in the model's favour: half the two-sided p when the statistic is negative.
    expected = library.pvalue / 2 if library.statistic < 0 else 1 - library.pvalue / 2
    assert pvalue == pytest.approx(expected, rel=1e-9)
    assert pvalue == pytest.approx(stats.t.cdf(library.statistic, df=len(actual) - 1), rel=1e-12)


def test_a_near_perfect_forecast_beats_persistence_and_identical_forecasts_do_not_differ():
    actual, last, rng = random_walk()
    persistence = last[:, None]
    near_perfect = actual + rng.normal(0, 0.05, actual.shape)
    _, pvalue = diebold_mariano(actual, near_perfect, persistence)
    assert pvalue < 0.01
    # The other way round the model is the worse one: nowhere near significant.
    assert diebold_mariano(actual, persistence, near_perfect)[1] > 0.99
    assert diebold_mariano(actual, near_perfect, near_perfect.copy()) == (0.0, 1.0)


def test_multi_step_losses_use_horizon_minus_one_lags():
    actual, last, rng = random_walk()
    actual3 = np.column_stack([actual[:, 0], actual[:, 0] + 1, actual[:, 0] + 2])
    model = actual3 + rng.normal(0, 0.5, actual3.shape)
    baseline = np.repeat(last[:, None], 3, axis=1)
    statistic, _ = diebold_mariano(actual3, model, baseline)
    loss_model = np.mean((actual3 - model) ** 2, axis=1)
    loss_base = np.mean((actual3 - baseline) ** 2, axis=1)
    library = diebold_mariano_test(np.zeros(len(loss_model)), loss_model, loss_base,
                                   criterion=lambda _, loss: loss, lags=2, harvey_adj=True, horizon=3)
    assert statistic == pytest.approx(library.statistic) and library.lags == 2


def test_pesaran_timmermann_is_the_librarys_one_sided_test_of_the_moves():
    actual, last, rng = random_walk()
    moves = actual[:, 0] - last
    knows_the_direction = last + np.sign(moves) * 0.1 + rng.normal(0, 0.02, len(last))
    pvalue = direction_test(actual, knows_the_direction[:, None], last)
    assert pvalue == pytest.approx(pesaran_timmermann(moves, knows_the_direction - last, "larger").pvalue)
    assert pvalue < 0.01
    coin = last + rng.choice([-0.1, 0.1], len(last))
    assert direction_test(actual, coin[:, None], last) > 0.01
    # With several steps only the first enters: the later ones repeat overlapping windows.
    two_steps = np.column_stack([knows_the_direction, 2 * last - knows_the_direction])
    assert direction_test(np.column_stack([actual[:, 0], actual[:, 0]]), two_steps, last) == pytest.approx(pvalue)
    # A forecast that always moves the same way has no direction skill to show.
    assert direction_test(actual, last[:, None] + 1.0, last) == 1.0


def test_every_run_reports_the_keys_and_says_them_in_words():
    actual, last, rng = random_walk()
    good = actual + rng.normal(0, 0.05, actual.shape)
    report = significance(actual, good, last[:, None], good.copy(), last)
    assert report["dm_pvalue_persistence"] < 0.01 and report["dm_pvalue_linear"] == 1.0
    words = verdicts(report)
    assert words[0].startswith("beats persistence, p = ")
    assert words[1] == "not distinguishable from the linear model, p = 1"  # the same forecasts
    assert words[2].startswith("direction better than chance, p = ")
    # A one-sided p near 1 is a baseline significantly better, and said so with its own p-value.
    bad = significance(actual, good + rng.normal(0, 0.5, actual.shape), last[:, None], good, last)
    assert bad["dm_pvalue_linear"] > 0.95 and bad["dm_stat_linear"] > 0
    reverse = 1 - bad["dm_pvalue_linear"]
    assert verdicts(bad)[1] == (f"worse than the linear model, p = {reverse:.3g}" if reverse >= 1e-15
                                else "worse than the linear model, p < 1e-15")
    middling = dict(bad, dm_pvalue_linear=0.9, dm_stat_linear=1.3)
    assert verdicts(middling)[1] == "not distinguishable from the linear model, p = 0.9"
