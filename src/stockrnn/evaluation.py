"""Evaluate a trained forecaster: validation and test predictions in price units, baselines beside."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from stockrnn.baselines import LinearBaseline, fit_linear_baseline
from stockrnn.data.datamodule import StockDataModule
from stockrnn.data.splits import WindowRange
from stockrnn.metrics import forecast_report, persistence_forecast, validation_report
from stockrnn.models.forecaster import Forecaster


@dataclass
class Evaluation:
    metrics: dict[str, float]
    predictions: pd.DataFrame  # the contract's predictions.csv (test windows)
    val_predictions: pd.DataFrame  # val_predictions.csv: the same columns on the validation windows


@dataclass(frozen=True)
class Forecasts:
    """One split's targets and every forecaster's forecasts of them, in price units."""

    dates: np.ndarray  # windows x horizon
    actual: np.ndarray  # windows x horizon
    predicted: np.ndarray
    linear: np.ndarray
    last_known: np.ndarray  # windows: the value persistence repeats

    @property
    def persistence(self) -> np.ndarray:
        return persistence_forecast(self.last_known, self.actual.shape[1])

    def table(self) -> pd.DataFrame:
        """One row per target; with horizon > 1 a `horizon` column gives the target's step
        (1 = the day after the last known value) and `date` is the target's own date."""
        horizon = self.actual.shape[1]
        table = pd.DataFrame({
            "date": pd.DatetimeIndex(self.dates.ravel()).strftime("%Y-%m-%d"),
            "horizon": np.tile(np.arange(1, horizon + 1), len(self.dates)),
            "actual": self.actual.ravel(), "predicted": self.predicted.ravel(),
            "persistence": self.persistence.ravel(), "linear": self.linear.ravel(),
        })
        return table if horizon > 1 else table.drop(columns="horizon")

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> "Forecasts":
        """Back from a predictions.csv-shaped table (also several folds' tables concatenated)."""
        horizon = int(table["horizon"].max()) if "horizon" in table else 1

        def windows(column: str) -> np.ndarray:
            return table[column].to_numpy().reshape(-1, horizon)

        return cls(pd.to_datetime(table["date"]).to_numpy().reshape(-1, horizon), windows("actual"),
                   windows("predicted"), windows("linear"), windows("persistence")[:, 0])


@torch.no_grad()
def predict_scaled(module: Forecaster, loader) -> np.ndarray:
    """Scaled predictions for every window of `loader`, in its (time) order."""
    module.eval()
    outputs = [module(x.to(module.device)).cpu() for x, *_ in loader]
    return torch.cat(outputs).double().numpy()


def split_forecasts(datamodule: StockDataModule, windows: WindowRange, loader, module: Forecaster,
                    linear: LinearBaseline) -> Forecasts:
    targets = datamodule.split_targets(windows)

    def price(encoded: np.ndarray) -> np.ndarray:
        return datamodule.to_price(encoded, targets.last_known)

    return Forecasts(targets.dates, targets.actual, price(predict_scaled(module, loader)),
                     price(linear.predict(datamodule.dataset(windows))), targets.last_known)


def split_report(val: Forecasts, test: Forecasts) -> dict[str, float]:
    """The baselines' validation figures beside the model's, the test report and its tests. The
    validation ones matter: whether the network beats the baselines there is what a search can
    see, while the test figures are only for reading afterwards."""
    return (validation_report(val.actual, val.predicted, val.linear, val.last_known)
            | forecast_report(test.actual, test.predicted, test.linear, test.last_known))


def evaluate(module: Forecaster, datamodule: StockDataModule) -> Evaluation:
    """val_rmse, the test report and the significance tests for the module's current weights."""
    splits = datamodule.splits
    linear = fit_linear_baseline(datamodule.dataset(splits.train), datamodule.dataset(splits.val))
    val = split_forecasts(datamodule, splits.val, datamodule.val_dataloader(), module, linear)
    test = split_forecasts(datamodule, splits.test, datamodule.test_dataloader(), module, linear)
    metrics = split_report(val, test) | {"linear_lags": linear.lags}
    return Evaluation(metrics, test.table(), val.table())
