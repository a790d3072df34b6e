"""Evaluate a trained forecaster: validation and test predictions in price units, baselines beside."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from stockrnn.baselines import fit_linear_baseline, predict_linear
from stockrnn.data.datamodule import StockDataModule
from stockrnn.metrics import error_metrics, forecast_report, persistence_forecast
from stockrnn.models.forecaster import Forecaster


@dataclass
class Evaluation:
    metrics: dict[str, float]
    predictions: pd.DataFrame  # the contract's predictions.csv


@torch.no_grad()
def predict_scaled(module: Forecaster, loader) -> np.ndarray:
    """Scaled predictions for every window of `loader`, in its (time) order."""
    module.eval()
    outputs = [module(x.to(module.device)).cpu() for x, *_ in loader]
    return torch.cat(outputs).double().numpy()


def linear_forecasts(datamodule: StockDataModule) -> tuple[np.ndarray, np.ndarray]:
    """The linear baseline, fit on the training windows, as prices: (validation, test)."""
    splits = datamodule.splits
    linear = fit_linear_baseline(datamodule.dataset(splits.train), datamodule.dataset(splits.val))
    return tuple(datamodule.to_price(predict_linear(linear, datamodule.dataset(windows)),
                                     datamodule.split_targets(windows).last_known)
                 for windows in (splits.val, splits.test))


def evaluate(module: Forecaster, datamodule: StockDataModule) -> Evaluation:
    """val_rmse and the test report for the module's current weights."""
    splits = datamodule.splits
    val = datamodule.split_targets(splits.val)
    val_pred = datamodule.to_price(predict_scaled(module, datamodule.val_dataloader()), val.last_known)
    test = datamodule.split_targets(splits.test)
    test_pred = datamodule.to_price(predict_scaled(module, datamodule.test_dataloader()), test.last_known)
    linear_val_pred, linear_pred = linear_forecasts(datamodule)

    # The linear model's validation figure too: whether the network beats it there is what a
    # search can see, while its test figure is only for reading afterwards.
    metrics = {"val_rmse": error_metrics(val.actual, val_pred, val.last_known)["rmse"],
               "linear_val_rmse": error_metrics(val.actual, linear_val_pred, val.last_known)["rmse"]}
    metrics |= forecast_report(test.actual, test_pred, linear_pred, test.last_known)
    return Evaluation(metrics, prediction_table(test.dates, test.actual, test_pred,
                                                persistence_forecast(test.last_known, datamodule.horizon),
                                                linear_pred))


def prediction_table(dates: np.ndarray, actual: np.ndarray, predicted: np.ndarray,
                     persistence: np.ndarray, linear: np.ndarray) -> pd.DataFrame:
    """One row per test target; with horizon > 1 a `horizon` column gives the target's step
    (1 = the day after the last known value) and `date` is the target's own date."""
    horizon = actual.shape[1]
    table = pd.DataFrame({
        "date": pd.DatetimeIndex(dates.ravel()).strftime("%Y-%m-%d"),
        "horizon": np.tile(np.arange(1, horizon + 1), len(dates)),
        "actual": actual.ravel(), "predicted": predicted.ravel(),
        "persistence": persistence.ravel(), "linear": linear.ravel(),
    })
    return table if horizon > 1 else table.drop(columns="horizon")
