"""The forecast table: one split's targets and every forecaster's forecasts of them in price units
(the network's, the baselines', a distribution's quantiles), one series or a panel's pooled."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stockrnn.evaluation.metrics import persistence_forecast


@dataclass(frozen=True)
class Forecasts:
    """One split's targets and every forecaster's forecasts of them, in price units."""

    dates: np.ndarray  # windows x horizon
    actual: np.ndarray  # windows x horizon
    predicted: np.ndarray
    linear: np.ndarray
    last_known: np.ndarray  # windows: the value persistence repeats
    # With model.distribution: the network's quantiles at `levels` (windows x horizon x levels) and
    # the distribution baselines' (climatology, garch) on the same targets.
    quantiles: np.ndarray | None = None
    baselines: dict[str, np.ndarray] = field(default_factory=dict)
    levels: tuple[float, ...] = ()
    # A panel's: each window's series name, and the local linear model's
    # forecasts (one ridge per series) beside the global one in `linear`.
    series: np.ndarray | None = None
    local_linear: np.ndarray | None = None
    # model.combination=persistence: the network's own point forecast, before `predicted` combined
    # it with persistence (models/combination.py).
    network: np.ndarray | None = None

    def of_series(self, name: str) -> "Forecasts":
        """A panel's forecasts of one series."""
        return self._taking(self.series == name)

    def by_series(self) -> dict[str, "Forecasts"]:
        """A panel's forecasts of each series, in the order the series first appear: grouped once
        (a mask over every window per series took seconds on 500 series)."""
        if len(self.series) == 0:
            return {}
        # Series after series, as a panel pools them: each one's windows are a slice, viewed, not copied.
        starts = np.flatnonzero(np.r_[True, self.series[1:] != self.series[:-1]])
        if len(set(self.series[starts])) == len(starts):
            stops = np.r_[starts[1:], len(self.series)]
            return {self.series[first]: self._taking(slice(first, stop)) for first, stop in zip(starts, stops)}
        codes, names = pd.factorize(self.series)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        return {name: self._taking(order[first:stop])
                for name, first, stop in zip(names, bounds[:-1], bounds[1:])}

    def _taking(self, rows) -> "Forecasts":
        """These windows only (a mask, indices or a slice: views), in every array."""
        return dataclasses.replace(
            self, **{field.name: value[rows] for field in dataclasses.fields(self)
                     if isinstance(value := getattr(self, field.name), np.ndarray)},
            baselines={key: value[rows] for key, value in self.baselines.items()})

    @property
    def persistence(self) -> np.ndarray:
        return persistence_forecast(self.last_known, self.actual.shape[1])

    def table(self) -> pd.DataFrame:
        """One row per target; with horizon > 1 a `horizon` column gives the target's step
        (1 = the day after the last known value) and `date` is the target's own date."""
        horizon = self.actual.shape[1]
        table = pd.DataFrame({
            **({"series": np.repeat(self.series, horizon)} if self.series is not None else {}),
            "date": pd.DatetimeIndex(self.dates.ravel()).strftime("%Y-%m-%d"),
            "horizon": np.tile(np.arange(1, horizon + 1), len(self.dates)),
            "actual": self.actual.ravel(), "predicted": self.predicted.ravel(),
            **({"network": self.network.ravel()} if self.network is not None else {}),
            "persistence": self.persistence.ravel(), "linear": self.linear.ravel(),
        })
        if self.local_linear is not None:
            table.insert(table.columns.get_loc("linear") + 1, "local_linear", self.local_linear.ravel())
        if self.quantiles is not None:  # q0.05 ...; each baseline's 90% interval
            for k, level in enumerate(self.levels):
                table[f"q{level:g}"] = self.quantiles[..., k].ravel()
            low, high = self.levels.index(0.05), self.levels.index(0.95)
            for name, quantiles in self.baselines.items():
                table[f"{name}_lo90"], table[f"{name}_hi90"] = (quantiles[..., low].ravel(),
                                                                quantiles[..., high].ravel())
        return table if horizon > 1 else table.drop(columns="horizon")

    def write_csv(self, path, float_format: str, windows_per_chunk: int = 20_000) -> None:
        """table() as a CSV, written a chunk of windows at a time: a panel's hundreds of thousands of
        rows, each with its date as text, are never one table in memory."""
        for first in range(0, max(len(self.actual), 1), windows_per_chunk):
            chunk = self._taking(slice(first, first + windows_per_chunk)).table()
            chunk.to_csv(path, mode="w" if first == 0 else "a", header=first == 0, index=False,
                         float_format=float_format)

    @classmethod
    def concat(cls, parts: list["Forecasts"]) -> "Forecasts":
        """Several splits' forecasts as one (a backtest's folds, a panel's series, pooled)."""
        first = parts[0]
        joined = {name: np.concatenate([getattr(part, name) for part in parts])
                  for name in ("dates", "actual", "predicted", "linear", "last_known")}
        for name in ("series", "local_linear", "network"):
            if getattr(first, name) is not None:
                joined[name] = np.concatenate([getattr(part, name) for part in parts])
        if first.quantiles is not None:
            joined["quantiles"] = np.concatenate([part.quantiles for part in parts])
            joined["baselines"] = {name: np.concatenate([part.baselines[name] for part in parts])
                                   for name in first.baselines}
        return cls(**joined, levels=first.levels)
