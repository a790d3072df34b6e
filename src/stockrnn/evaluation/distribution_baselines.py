"""The distribution baselines a forecast distribution is measured against, as price quantiles:
climatology (a random walk with the training period's spread) and GARCH(1,1) with Student-t noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from arch import arch_model
from arch.univariate import StudentsT

from stockrnn.errors import StockrnnError

# Fewer s-day changes than this make the outer levels (5%, 95%) little more than the extremes.
CLIMATOLOGY_MIN_CHANGES = 20
# A trading year: on less, GARCH's persistence is barely identified (arch's start-up value
# alone reads the first 75 changes).
GARCH_MIN_CHANGES = 250


def changes(prices: np.ndarray, steps: int, transform: str) -> np.ndarray:
    """The overlapping `steps`-day changes in the transform's space: log(p[t+s] / p[t]) for
    log_return, p[t+s] - p[t] for diff and for level (a level target's random walk is in changes)."""
    later, earlier = prices[steps:], prices[:-steps]
    return np.log(later / earlier) if transform == "log_return" else later - earlier


def to_prices(anchors: np.ndarray, change_quantiles: np.ndarray, transform: str) -> np.ndarray:
    """Quantiles of the change from each anchor (windows or 1, horizon, levels) -> price quantiles.
    Both decodings are increasing, so the quantiles stay in order."""
    anchor = anchors[:, None, None]
    return anchor * np.exp(change_quantiles) if transform == "log_return" else anchor + change_quantiles


def climatology_quantiles(prices: np.ndarray, train_rows: tuple[int, int], anchor_rows: np.ndarray,
                          horizon: int, levels, transform: str) -> np.ndarray:
    """Persistence plus the training period's empirical quantiles of s-day changes at step s:
    what a random walk with the training years' spread says. windows x horizon x levels prices."""
    first, stop = train_rows
    train = prices[first:stop]  # a change whose both ends are training rows
    if len(train) - horizon < CLIMATOLOGY_MIN_CHANGES:
        raise StockrnnError(
            f"the climatology baseline needs at least {CLIMATOLOGY_MIN_CHANGES} {horizon}-day changes "
            f"in the training rows ({CLIMATOLOGY_MIN_CHANGES + horizon} rows); the training range has "
            f"{len(train)}")
    per_step = np.stack([np.quantile(changes(train, step, transform), levels)
                         for step in range(1, horizon + 1)])
    return to_prices(prices[anchor_rows], per_step[None], transform)


@dataclass(frozen=True)
class GarchFit:
    """GARCH(1,1)-t on the changes divided by `unit`: x_t = sigma_t z_t with z_t standardised
    Student-t with nu degrees of freedom, sigma2_t = omega + alpha x_{t-1}^2 + beta sigma2_{t-1}."""

    omega: float
    alpha: float
    beta: float
    nu: float
    unit: float  # the training changes' standard deviation, so the optimizer sees values near 1
    n_changes: int  # training changes the fit read

    @property
    def persistence(self) -> float:
        return self.alpha + self.beta

    @property
    def params(self) -> np.ndarray:
        """In arch's order."""
        return np.array([self.omega, self.alpha, self.beta, self.nu])


def garch_model(scaled_changes: np.ndarray):
    return arch_model(scaled_changes, mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False)


def garch_fit(prices: np.ndarray, train_rows: tuple[int, int], transform: str) -> GarchFit:
    """Maximum likelihood (arch) on the one-day changes between training rows only."""
    first, stop = train_rows
    train = changes(prices[first:stop], 1, transform)
    if len(train) < GARCH_MIN_CHANGES:
        raise StockrnnError(
            f"the GARCH baseline needs at least {GARCH_MIN_CHANGES} one-day changes in the training rows "
            f"({GARCH_MIN_CHANGES + 1} rows); the training range has {stop - first}")
    unit = float(np.std(train))
    if not unit > 0:
        raise StockrnnError("the GARCH baseline cannot be fit: the target does not change over the "
                            "training rows")
    result = garch_model(train / unit).fit(disp="off", show_warning=False)
    if result.convergence_flag != 0:
        raise StockrnnError(f"the GARCH(1,1) fit on {len(train)} training changes did not converge: "
                            f"{result.optimization_result.message}")
    omega, alpha, beta, nu = (float(value) for value in result.params)
    return GarchFit(omega, alpha, beta, nu, unit, len(train))


def garch_variances(fit: GarchFit, prices: np.ndarray, train_rows: tuple[int, int], anchor_rows: np.ndarray,
                    horizon: int, transform: str) -> np.ndarray:
    """windows x horizon: the variance of each window's 1..horizon-day change from its anchor,
    in the transform's units, from the changes up to the anchor only.

    The fitted parameters stay fixed; arch's filter runs over the changes from the first training
    row on. Its variance for a day reads the changes before that day and arch's start-up value,
    the weighted mean square of the first 75 training changes (as in the fit), so the only prices
    after an anchor that its forecast reads are training rows, through the parameters and that value.
    """
    first, stop = train_rows
    anchor_rows = np.asarray(anchor_rows)
    last = max(int(anchor_rows.max()), stop - 1)  # beyond the training rows only as far as an anchor
    x = changes(prices[first:last + 1], 1, transform) / fit.unit  # x[i]: the change into row first + 1 + i
    sigma2 = garch_model(x).fix(fit.params).conditional_volatility ** 2
    after_last = fit.omega + fit.alpha * x[-1] ** 2 + fit.beta * sigma2[-1]
    # next_day[a - first]: the variance of the change into row a + 1, known at row a
    next_day = np.append(sigma2, after_last)[anchor_rows - first]
    step_variances = [next_day]
    for _ in range(horizon - 1):  # E[sigma2_{t+h}] = omega + (alpha + beta) E[sigma2_{t+h-1}]
        step_variances.append(fit.omega + fit.persistence * step_variances[-1])
    # Daily changes are uncorrelated: an s-day change's variance is the sum of its days' variances.
    return np.cumsum(np.stack(step_variances, axis=1), axis=1) * fit.unit**2


def garch_quantiles(prices: np.ndarray, train_rows: tuple[int, int], anchor_rows: np.ndarray,
                    horizon: int, levels, transform: str, fit: GarchFit | None = None) -> np.ndarray:
    """Persistence plus GARCH(1,1)-t quantiles of the change: at step s, sqrt(variance of the
    s-day change) times the standardised Student-t's quantile with the fitted nu (exact for one
    step, an approximation beyond). windows x horizon x levels prices."""
    fit = fit or garch_fit(prices, train_rows, transform)
    standard = StudentsT().ppf(np.asarray(levels, dtype=np.float64), [fit.nu])
    variances = garch_variances(fit, prices, train_rows, anchor_rows, horizon, transform)
    return to_prices(prices[anchor_rows], np.sqrt(variances)[..., None] * standard, transform)
