"""Scores of forecast distributions given as quantiles, in price units: CRPS, pinball loss, the
coverage and width of central intervals and the interval score, all with `scoringrules`."""

from __future__ import annotations

import numpy as np
import scoringrules as sr

from stockrnn.errors import StockrnnError

# The levels the metrics read; model.quantiles must contain them.
LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
CENTRAL = (50, 80, 90)  # central intervals: (0.25, 0.75), (0.1, 0.9), (0.05, 0.95)
# The keys interval_metrics returns; metrics.json prefixes them (test_crps, garch_val_coverage_90...).
SCORES = ("crps", "pinball", "coverage_50", "coverage_80", "coverage_90", "width_80", "width_90",
          "interval_score_90")
# numba is not installed, and scoringrules' default would pick it when it is: one backend, always.
BACKEND = "numpy"


def interval_metrics(actual: np.ndarray, quantiles: np.ndarray, levels) -> dict[str, float]:
    """CRPS, pinball loss, coverage and width of the central 50/80/90% intervals and the 90%
    interval score, pooled over every window and step.

    actual: windows x horizon prices; quantiles: windows x horizon x len(levels) prices, ascending
    along the last axis; levels: ascending, in (0, 1), including LEVELS.
    """
    levels = np.asarray(levels, dtype=np.float64)
    column = level_columns(levels)
    pinball = sr.quantile_score(actual[..., None], quantiles, levels, backend=BACKEND)
    metrics = {"crps": float(np.mean(crps(actual, quantiles, levels))), "pinball": float(np.mean(pinball))}
    bounds = {coverage: [quantiles[..., column[level]] for level in central_levels(coverage)]
              for coverage in CENTRAL}
    for coverage, (low, high) in bounds.items():
        metrics[f"coverage_{coverage}"] = float(np.mean((low <= actual) & (actual <= high)))
    for coverage in (80, 90):
        low, high = bounds[coverage]
        metrics[f"width_{coverage}"] = float(np.mean(high - low))
    low, high = bounds[90]
    metrics["interval_score_90"] = float(np.mean(sr.interval_score(actual, low, high, 0.1, backend=BACKEND)))
    return metrics


def crps_per_window(actual: np.ndarray, quantiles: np.ndarray, levels) -> np.ndarray:
    """Each window's CRPS, the mean over its steps: the loss series of a Diebold-Mariano test."""
    return crps(actual, quantiles, np.asarray(levels, dtype=np.float64)).mean(axis=1)


def crps(actual: np.ndarray, quantiles: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """windows x horizon: the CRPS approximated from the quantiles (twice the mean pinball loss)."""
    return sr.crps_quantile(actual, quantiles, levels, backend=BACKEND)


def central_levels(coverage: int) -> tuple[float, float]:
    """The levels that bound the central `coverage`% interval: 90 -> (0.05, 0.95)."""
    return (100 - coverage) / 200, (100 + coverage) / 200


def level_columns(levels: np.ndarray) -> dict[float, int]:
    """Where each of LEVELS sits along the quantile axis; raises StockrnnError naming the absent ones."""
    column, missing = {}, []
    for level in LEVELS:
        # Levels may come from a config or arithmetic (1 - 0.9): match them to within rounding.
        found = np.flatnonzero(np.isclose(levels, level, rtol=0, atol=1e-9))
        if found.size:
            column[level] = int(found[0])
        else:
            missing.append(level)
    if missing:
        raise StockrnnError(f"the quantile levels {levels.tolist()} lack {missing}; the interval "
                            f"metrics need all of {list(LEVELS)}")
    return column
