"""Evaluate a trained forecaster: validation and test predictions in price units, baselines beside."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import torch

from stockrnn.evaluation.baselines import LinearBaseline, fit_linear_baseline
from stockrnn.data.datamodule import StockDataModule
from stockrnn.data.splits import WindowRange
from stockrnn.evaluation.distributions import distribution_report, with_distributions
from stockrnn.evaluation.forecasts import Forecasts, network_outputs
from stockrnn.evaluation.metrics import forecast_report, validation_report
from stockrnn.models.distributions import has_quantiles
from stockrnn.models.forecaster import Forecaster


@dataclass
class Evaluation:
    metrics: dict[str, float]
    val: Forecasts
    test: Forecasts
    per_series: pd.DataFrame | None = None  # a panel's per_series.csv (see panel_report.py)

    @cached_property
    def predictions(self) -> pd.DataFrame:
        """The contract's predictions.csv (test windows)."""
        return self.test.table()

    @cached_property
    def val_predictions(self) -> pd.DataFrame:
        """val_predictions.csv: the same columns on the validation windows."""
        return self.val.table()


def split_forecasts(datamodule: StockDataModule, windows: WindowRange, outputs: torch.Tensor,
                    module: Forecaster, linear: LinearBaseline) -> Forecasts:
    targets = datamodule.split_targets(windows)

    def price(encoded: np.ndarray) -> np.ndarray:
        return datamodule.to_price(encoded, targets.last_known)

    return Forecasts(targets.dates, targets.actual, price(module.kind.point(outputs).numpy()),
                     price(linear.predict(datamodule.dataset(windows))), targets.last_known)


def split_report(val: Forecasts, test: Forecasts) -> dict[str, float]:
    """The baselines' validation figures beside the model's, the test report and its tests. The
    validation ones matter: whether the network beats the baselines there is what a search can
    see, while the test figures are only for reading afterwards."""
    report = (validation_report(val.actual, val.predicted, val.linear, val.last_known)
              | forecast_report(test.actual, test.predicted, test.linear, test.last_known))
    return report | distribution_report(val, test) if val.quantiles is not None else report


def evaluate(module: Forecaster, datamodule: StockDataModule) -> Evaluation:
    """val_rmse, the test report and the significance tests for the module's current weights; with
    a distribution also its quantiles, the distribution baselines' and their scores. A panel's
    DataModule is evaluated series by series (panel_evaluation.py)."""
    if not isinstance(datamodule, StockDataModule):
        from stockrnn.evaluation.panel_evaluation import evaluate_panel  # it builds on this module's functions

        return evaluate_panel(module, datamodule)
    splits = datamodule.splits
    linear = fit_linear_baseline(datamodule.dataset(splits.train), datamodule.dataset(splits.val))
    outputs = {name: network_outputs(module, loader)
               for name, loader in (("val", datamodule.val_dataloader()), ("test", datamodule.test_dataloader()))}
    val = split_forecasts(datamodule, splits.val, outputs["val"], module, linear)
    test = split_forecasts(datamodule, splits.test, outputs["test"], module, linear)
    if has_quantiles(module.kind):
        val, test = with_distributions(module, datamodule, val, test, outputs)
    metrics = split_report(val, test) | {"linear_lags": linear.lags}
    return Evaluation(metrics, val, test)
