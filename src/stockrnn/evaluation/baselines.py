"""A linear baseline on the windows the network sees: ridge on the most recent days of the window,
with the number of days and the strength both chosen on the validation windows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from threadpoolctl import threadpool_limits

# Up to 1000: on long windows of a noisy series validation can prefer strong shrinkage (MSFT at
# 20 days chose 10 once offered it), and a grid whose choice is its own edge has not chosen.
ALPHAS = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
# Numbers of a window's inputs gathered at once (8 MB as float64; with its copies some 50 MB): a
# panel's 2 million training windows gathered whole took 3.8 GB, and a series of a thousand
# windows is still one chunk.
CHUNK_VALUES = 2**20


class Windows(Protocol):
    """What the ridge reads of a split's windows (data/windows.py's WindowDataset or PooledWindows):
    their count, their length and width, and (inputs, targets, ...) for given window indices."""

    n_steps: int
    inputs: torch.Tensor  # rows x features

    def __len__(self) -> int: ...

    def __getitems__(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]: ...

    def all_windows(self) -> tuple[torch.Tensor, ...]: ...


@dataclass(frozen=True)
class LinearBaseline:
    """y = x[last `lags` days] @ coef + intercept, on scaled inputs and encoded targets."""

    lags: int
    alpha: float
    coef: np.ndarray  # (lags * features, horizon)
    intercept: np.ndarray  # (horizon,)

    def predict(self, dataset: Windows) -> np.ndarray:
        """Scaled predictions, windows x horizon."""
        empty = np.empty((0, len(self.intercept)))  # a dataset of no windows has no chunks
        chunks = window_chunks(dataset, self.lags)
        return np.concatenate([empty] + [x @ self.coef + self.intercept for x, _ in chunks])


def flat_windows(dataset: Windows, lags: int | None = None,
                 index: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each window's last `lags` days (all of them by default) as one row, and its targets; the
    windows `index`, all of them by default."""
    x, y, *_ = dataset.all_windows() if index is None else dataset.__getitems__(index)
    x = x[:, -(lags or x.shape[1]):]
    return x.reshape(len(x), -1).double().numpy(), y.double().numpy()


def window_chunks(dataset: Windows, lags: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """flat_windows of consecutive slices of the dataset, each of about CHUNK_VALUES numbers."""
    size = max(1, CHUNK_VALUES // (dataset.n_steps * dataset.inputs.shape[1]))
    for start in range(0, len(dataset), size):
        yield flat_windows(dataset, lags, torch.arange(start, min(start + size, len(dataset))))


@dataclass
class CentredMoments:
    """The training windows' means and centred cross-products x'x and x'y, added chunk by chunk.
    Each chunk is centred on its own mean and merged by Chan, Golub and LeVeque's pairwise update:
    one pass, and no sum of squares of uncentred inputs whose difference would cancel."""

    count: int = 0
    x_mean: np.ndarray | float = 0.0
    y_mean: np.ndarray | float = 0.0
    gram: np.ndarray | float = 0.0
    moment: np.ndarray | float = 0.0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
        centred = x - x_mean
        gram, moment = centred.T @ centred, centred.T @ (y - y_mean)
        total = self.count + len(x)
        x_shift, y_shift = x_mean - self.x_mean, y_mean - self.y_mean
        weight = self.count * len(x) / total  # 0 for the first chunk: its own figures, exactly
        self.gram = self.gram + gram + weight * np.outer(x_shift, x_shift)
        self.moment = self.moment + moment + weight * np.outer(x_shift, y_shift)
        self.x_mean = self.x_mean + x_shift * (len(x) / total)
        self.y_mean = self.y_mean + y_shift * (len(x) / total)
        self.count = total


@dataclass(frozen=True)
class RidgePath:
    """The ridge on the last `lags` days at every strength of ALPHAS, from one eigendecomposition
    of that corner of the Gram matrix: coef(alpha) = Q diag(1 / (eigenvalue + alpha)) Q' moment."""

    cols: slice
    vectors: np.ndarray
    shrunk: list[np.ndarray]  # per strength, the coefficients in the eigenvectors' basis

    @classmethod
    def fit(cls, moments: CentredMoments, cols: slice) -> RidgePath:
        eigenvalues, vectors = np.linalg.eigh(moments.gram[cols, cols])
        rotated_moment = vectors.T @ moments.moment[cols]
        return cls(cols, vectors, [rotated_moment / (np.clip(eigenvalues, 0, None) + alpha)[:, None]
                                   for alpha in ALPHAS])

    def squared_errors(self, x: np.ndarray, y: np.ndarray, moments: CentredMoments) -> np.ndarray:
        """Sum of squared errors on windows x (all days), targets y, at each strength."""
        rotated = (x[:, self.cols] - moments.x_mean[self.cols]) @ self.vectors
        return np.array([np.sum((rotated @ shrunk + moments.y_mean - y) ** 2) for shrunk in self.shrunk])

    def baseline(self, strength: int, moments: CentredMoments, lags: int) -> LinearBaseline:
        coef = self.vectors @ self.shrunk[strength]
        return LinearBaseline(lags, ALPHAS[strength], coef, moments.y_mean - moments.x_mean[self.cols] @ coef)


@threadpool_limits.wrap(limits=1, user_api="blas")
def fit_linear_baseline(train: Windows, val: Windows) -> LinearBaseline:
    """Fit on training windows only; validation picks the number of recent days (1 to n_steps)
    and the strength. Without the choice of days the ridge gets the network's whole window and
    longer windows make it worse (Mastercard: 4.346 with 3 days, 4.510 with 20), which would
    make "beats linear" partly mean "the ridge was given too many inputs".

    The ridge is sklearn's Ridge (intercept unpenalised), solved from one Gram matrix of the
    centred training windows: each number of days is a corner of it, and one eigendecomposition
    of that corner gives the fit at every strength, so the whole grid (n_steps x 9 fits) costs
    about n_steps small decompositions. The windows are read in chunks (window_chunks), once for
    the Gram matrix and once for the validation errors, so a panel of millions of windows takes
    tens of MB, not gigabytes. One BLAS thread: matrices this small gain nothing from more, and
    on a busy machine more made the grid 5 to 30 times slower (scripts/benchmark.py).
    """
    moments = CentredMoments()
    for x, y in window_chunks(train):
        moments.add(x, y)
    n_inputs = moments.gram.shape[0]
    n_features = n_inputs // train.n_steps
    paths = [RidgePath.fit(moments, slice(n_inputs - lags * n_features, None))
             for lags in range(1, train.n_steps + 1)]
    errors = np.zeros((len(paths), len(ALPHAS)))
    for x, y in window_chunks(val):
        errors += [path.squared_errors(x, y, moments) for path in paths]
    # The first minimum: ties keep the fewer days, then the weaker shrinkage; an error that is
    # not a number is never chosen.
    days_index, strength = np.unravel_index(np.nanargmin(errors), errors.shape)
    return paths[days_index].baseline(int(strength), moments, int(days_index) + 1)
