"""A linear baseline on the windows the network sees: ridge on the most recent days of the window,
with the number of days and the strength both chosen on the validation windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from stockrnn.data.windows import WindowDataset

# Up to 1000: on long windows of a noisy series validation can prefer strong shrinkage (MSFT at
# 20 days chose 10 once offered it), and a grid whose choice is its own edge has not chosen.
ALPHAS = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


@dataclass(frozen=True)
class LinearBaseline:
    """y = x[last `lags` days] @ coef + intercept, on scaled inputs and encoded targets."""

    lags: int
    alpha: float
    coef: np.ndarray  # (lags * features, horizon)
    intercept: np.ndarray  # (horizon,)

    def predict(self, dataset: WindowDataset) -> np.ndarray:
        """Scaled predictions, windows x horizon."""
        x, _ = flat_windows(dataset, self.lags)
        return x @ self.coef + self.intercept


def flat_windows(dataset: WindowDataset, lags: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each window's last `lags` days (all of them by default) as one row, and its targets."""
    x, y, *_ = dataset.all_windows()
    x = x[:, -(lags or x.shape[1]):]
    return x.reshape(len(dataset), -1).double().numpy(), y.double().numpy()


@threadpool_limits.wrap(limits=1, user_api="blas")
def fit_linear_baseline(train: WindowDataset, val: WindowDataset) -> LinearBaseline:
    """Fit on training windows only; validation picks the number of recent days (1 to n_steps)
    and the strength. Without the choice of days the ridge gets the network's whole window and
    longer windows make it worse (Mastercard: 4.346 with 3 days, 4.510 with 20), which would
    make "beats linear" partly mean "the ridge was given too many inputs".

    The ridge is sklearn's Ridge (intercept unpenalised), solved from one Gram matrix of the
    centred training windows: each number of days is a corner of it, and one eigendecomposition
    of that corner gives the fit at every strength, so the whole grid (n_steps x 9 fits) costs
    about n_steps small decompositions. One BLAS thread: matrices this small gain nothing from
    more, and on a busy machine more made the grid 5 to 30 times slower (scripts/benchmark.py).
    """
    x_train, y_train = flat_windows(train)
    x_val, y_val = flat_windows(val)
    n_features = x_train.shape[1] // train.n_steps
    x_mean, y_mean = x_train.mean(axis=0), y_train.mean(axis=0)
    centred = x_train - x_mean
    gram, moment = centred.T @ centred, centred.T @ (y_train - y_mean)
    best, best_error = None, np.inf
    for lags in range(1, train.n_steps + 1):
        cols = slice(x_train.shape[1] - lags * n_features, None)
        # coef(alpha) = Q diag(1 / (eigenvalue + alpha)) Q' moment
        eigenvalues, vectors = np.linalg.eigh(gram[cols, cols])
        rotated_moment = vectors.T @ moment[cols]
        rotated_val = (x_val[:, cols] - x_mean[cols]) @ vectors
        for alpha in ALPHAS:
            shrunk = rotated_moment / (np.clip(eigenvalues, 0, None) + alpha)[:, None]
            error = float(np.mean((rotated_val @ shrunk + y_mean - y_val) ** 2))
            if error < best_error:  # ties keep the fewer days and the weaker shrinkage seen first
                coef = vectors @ shrunk
                best, best_error = LinearBaseline(lags, alpha, coef, y_mean - x_mean[cols] @ coef), error
    return best
