"""model.combination=persistence: the network's point forecast pulled towards persistence by a weight
fit on the validation windows (a Bates-Granger combination, 1969), so that where there is no signal
the reported forecast falls back to "tomorrow = today" instead of fitting noise.

The combination is persistence + w * (network - persistence), in price units, with w in [0, 1] the
least-squares weight on validation: w = sum((y - p)(f - p)) / sum((f - p)^2), clipped to [0, 1]
(0 where f == p everywhere). One w per series and per horizon step (persistence decays differently
per step). Like the conformal shifts (calibration.py) the weights are fit at the end of each
validation epoch on that epoch's forecasts and kept with the checkpoint of the weights they were
fit for; eval and predict apply the checkpoint's.
"""

from __future__ import annotations

import numpy as np

COMBINATIONS = ("none", "persistence")


def weights_from_sums(cross: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """The least-squares weights from sum((y - p)(f - p)) and sum((f - p)^2) (any matching shape,
    e.g. series x horizon), clipped to [0, 1]; 0 where the network never leaves persistence."""
    cross, energy = np.asarray(cross, dtype=np.float64), np.asarray(energy, dtype=np.float64)
    moved = energy > 0
    return np.where(moved, np.clip(cross / np.where(moved, energy, 1.0), 0.0, 1.0), 0.0)


def fit_weights(actual: np.ndarray, network: np.ndarray, persistence: np.ndarray) -> np.ndarray:
    """One series' weight per step (horizon,) from its validation windows (windows x horizon each)."""
    signal = network - persistence
    return weights_from_sums(((actual - persistence) * signal).sum(axis=0), (signal ** 2).sum(axis=0))


def combine(network: np.ndarray, persistence: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The combined forecast (windows x horizon) with one weight per step (horizon,)."""
    return persistence + weights * (network - persistence)


def series_weights(weights: np.ndarray, index: int | None) -> np.ndarray:
    """The weights (horizon,) of the series at `index` among the checkpoint's (series x horizon);
    for a series the checkpoint was not trained on (index None), the mean over its series."""
    return weights.mean(axis=0) if index is None else weights[index]
