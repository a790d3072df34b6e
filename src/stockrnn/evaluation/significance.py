"""Is a forecast really better? Diebold-Mariano against each baseline, Pesaran-Timmermann for
direction, from statsmodels, one-sided: the alternative is always "the network is better"."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from statsmodels.stats.diagnostic import pesaran_timmermann
from statsmodels.tsa.stattools import diebold_mariano_test

# Below this a p-value is read as significant in the printed words (and in the docs).
SIGNIFICANCE_LEVEL = 0.05


def diebold_mariano(actual: np.ndarray, predicted: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """(statistic, one-sided p-value) of "predicted is more accurate than baseline" under squared
    error. actual, predicted, baseline: windows x horizon; with horizon > 1 each window's loss is
    its mean squared error over the steps."""
    return diebold_mariano_losses(np.mean((actual - predicted) ** 2, axis=1),
                                  np.mean((actual - baseline) ** 2, axis=1), actual.shape[1])


def diebold_mariano_losses(loss_model: np.ndarray, loss_baseline: np.ndarray, horizon: int) -> tuple[float, float]:
    """(statistic, one-sided p-value) of "the model's per-window loss is lower", with the
    Harvey-Leybourne-Newbold correction and horizon - 1 Newey-West lags (overlapping windows make
    the losses autocorrelated up to horizon - 1 lags). Any loss: squared error, CRPS. Identical
    losses on every window: (0, 1).
    """
    if np.array_equal(loss_model, loss_baseline):
        return 0.0, 1.0
    # The losses go in as the "forecasts" with a criterion that returns them as they are: the
    # library's HAC statistic and HLN correction on our per-window loss.
    result = diebold_mariano_test(np.zeros(len(loss_model)), loss_model, loss_baseline,
                                  criterion=lambda _, loss: loss, lags=horizon - 1, harvey_adj=True,
                                  horizon=horizon)
    # Negative statistic: the model's loss is lower. HLN compare it with Student's t, n - 1 df.
    return float(result.statistic), float(stats.t.cdf(result.statistic, df=len(loss_model) - 1))


def direction_test(actual: np.ndarray, predicted: np.ndarray, last_known: np.ndarray) -> float:
    """One-sided Pesaran-Timmermann p-value: the forecast's direction of move away from the last
    known value agrees with the real move more often than independence would give. Where the
    test is undefined (every forecast moves the same way, or every real move does) the hits are
    exactly what independence gives, so there is no evidence of skill: 1. With horizon > 1 on the
    first step only: the later steps of overlapping windows are not independent draws."""
    moves = actual[:, 0] - last_known
    forecast_moves = predicted[:, 0] - last_known
    try:
        return float(pesaran_timmermann(moves, forecast_moves, alternative="larger").pvalue)
    except ValueError:
        return 1.0


def significance(actual: np.ndarray, predicted: np.ndarray, persistence: np.ndarray, linear: np.ndarray,
                 last_known: np.ndarray) -> dict[str, float]:
    """The metrics.json keys of the tests, each baseline on exactly the model's targets."""
    report = {}
    for name, baseline in (("persistence", persistence), ("linear", linear)):
        statistic, pvalue = diebold_mariano(actual, predicted, baseline)
        report[f"dm_stat_{name}"], report[f"dm_pvalue_{name}"] = statistic, pvalue
    report["pt_pvalue"] = direction_test(actual, predicted, last_known)
    return report


def verdict(pvalue: float, baseline: str, statistic: float | None = None) -> str:
    """One p-value in words, as the result table prints it. pvalue is one-sided, "the model is
    better"; with the test's statistic (positive: the model's loss is higher) a baseline whose
    losses are significantly lower, the same test the other way round, is said to be so."""
    if math.isnan(pvalue):
        return f"no test against {baseline}"
    if pvalue < SIGNIFICANCE_LEVEL:
        return f"beats {baseline}, p = {pvalue:.3g}"
    reverse = 1 - pvalue  # Student's t is symmetric: the p-value of "the baseline is better"
    if statistic is not None and statistic > 0 and reverse < SIGNIFICANCE_LEVEL:
        return f"worse than {baseline}, p " + (f"= {reverse:.3g}" if reverse >= 1e-15 else "< 1e-15")
    return f"not distinguishable from {baseline}, p = {pvalue:.2g}"


def verdicts(metrics: dict) -> list[str]:
    """The tests of a run or backtest in words: one line each."""
    lines = [verdict(metrics["dm_pvalue_persistence"], "persistence", metrics.get("dm_stat_persistence")),
             verdict(metrics["dm_pvalue_linear"], "the linear model", metrics.get("dm_stat_linear"))]
    pt = metrics["pt_pvalue"]
    if pt < SIGNIFICANCE_LEVEL:
        lines.append(f"direction better than chance, p = {pt:.3g}")
    else:
        lines.append(f"direction not distinguishable from chance, p = {pt:.2g}")
    for baseline in ("garch", "climatology"):  # runs with a distribution: its CRPS against theirs
        if f"dm_pvalue_crps_{baseline}" in metrics:
            lines.append("CRPS: " + verdict(metrics[f"dm_pvalue_crps_{baseline}"], baseline.upper()
                                            if baseline == "garch" else baseline,
                                            metrics.get(f"dm_stat_crps_{baseline}")))
    return lines
