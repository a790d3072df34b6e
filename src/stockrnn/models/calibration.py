"""model.calibration=conformal: conformalised quantile regression fit on the validation windows.

Each quantile level is shifted on its own (the asymmetric form of Romano, Patterson and Candes,
2019): a level below the median moves down by the finite-sample (1 - level) quantile of how far
the validation targets fell below it, a level above moves up by the level quantile of how far they
rose above it. On exchangeable data that gives each central interval at least its nominal coverage;
a price series is not exchangeable (volatility clusters, regimes change), so on test it is a
correction of the validation period's bias, not a guarantee. The median, the point forecast, stays.
Fit on validation only, never on test; the shifts are in the scaled target's space, per step. The
shifts for test and predict are fit on every validation window at the end of each validation epoch
(the checkpoint keeps those of its weights); the validation scores use cross_fitted ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

CALIBRATIONS = ("none", "conformal")


def conformal_offsets(quantiles: np.ndarray, targets: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Shift per step and level, (horizon, levels), from validation quantiles (windows, horizon,
    levels) and targets (windows, horizon), both in the scaled target's space."""
    n = len(targets)
    offsets = np.zeros(quantiles.shape[1:])
    for k, level in enumerate(levels):
        if level == 0.5:
            continue
        below = level < 0.5
        # How far the targets lie outside this quantile, on the side it bounds (negative: inside).
        scores = quantiles[..., k] - targets if below else targets - quantiles[..., k]
        rank = min(1.0, math.ceil((n + 1) * (1 - level if below else level)) / n)
        shift = np.quantile(scores, rank, axis=0, method="higher")
        offsets[:, k] = -shift if below else shift
    return offsets


def calibrate(quantiles: np.ndarray, offsets: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Quantiles shifted by `offsets`. Levels shift independently, so two neighbours could swap;
    each level is kept at least as far from the median as the one inside it, which keeps the order
    and only widens outer intervals."""
    shifted = quantiles + offsets
    median = list(levels).index(0.5)
    lower = np.flip(np.minimum.accumulate(np.flip(shifted[..., :median + 1], -1), axis=-1), -1)
    upper = np.maximum.accumulate(shifted[..., median:], axis=-1)
    return np.concatenate([lower, upper[..., 1:]], axis=-1)


def halves(windows: int) -> list[np.ndarray]:
    """A series' validation windows as two consecutive blocks, earlier and later."""
    return np.array_split(np.arange(windows), 2)


def cross_fit_offsets(quantiles: list[np.ndarray], targets: list[np.ndarray],
                      levels: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Shifts for the earlier and the later half of each series' validation windows, each fit on
    the other half of every series' windows pooled (a panel's checkpoint shifts are fit on every
    series pooled; a run of one series is a list of one)."""
    def pooled(arrays: list[np.ndarray], half: int) -> np.ndarray:
        return np.concatenate([array[halves(len(array))[half]] for array in arrays])

    return tuple(conformal_offsets(pooled(quantiles, 1 - half), pooled(targets, 1 - half), levels)
                 for half in (0, 1))


def apply_cross_fitted(quantiles: np.ndarray, offsets: tuple[np.ndarray, np.ndarray],
                       levels: Sequence[float]) -> np.ndarray:
    """One series' validation quantiles, each half with the shifts fit without it (cross_fit_offsets)."""
    calibrated = np.empty_like(quantiles)
    for half, windows in enumerate(halves(len(quantiles))):
        calibrated[windows] = calibrate(quantiles[windows], offsets[half], levels)
    return calibrated


def cross_fitted(quantiles: np.ndarray, targets: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Validation quantiles calibrated without their own targets: each half of the windows with the
    shifts fit on the other half. The validation scores of a conformal run are read from these;
    shifts fit on all the windows would score the windows they were fit on and flatter conformal
    runs against the others in a sweep."""
    return apply_cross_fitted(quantiles, cross_fit_offsets([quantiles], [targets], levels), levels)
