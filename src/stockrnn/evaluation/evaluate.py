"""A run's reports, read from its forecast tables alone (see training/forecast_tables.py for how the
tables are made): the pooled metrics and tests, and a panel's figures over its series."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from stockrnn.evaluation.distributions import distribution_report
from stockrnn.evaluation.forecasts import Forecasts
from stockrnn.evaluation.metrics import error_metrics, forecast_report, validation_report
from stockrnn.evaluation.per_series import panel_metrics, per_series_table


@dataclass
class Evaluation:
    metrics: dict[str, float]
    val: Forecasts
    test: Forecasts
    per_series: pd.DataFrame | None = None  # a panel's per_series.csv (see per_series.py)

    @cached_property
    def predictions(self) -> pd.DataFrame:
        """The contract's predictions.csv (test windows)."""
        return self.test.table()

    @cached_property
    def val_predictions(self) -> pd.DataFrame:
        """val_predictions.csv: the same columns on the validation windows."""
        return self.val.table()


def split_report(val: Forecasts, test: Forecasts) -> dict[str, float]:
    """The baselines' validation figures beside the model's, the test report and its tests. The
    validation ones matter: whether the network beats the baselines there is what a search can
    see, while the test figures are only for reading afterwards."""
    report = (validation_report(val.actual, val.predicted, val.linear, val.last_known)
              | forecast_report(test.actual, test.predicted, test.linear, test.last_known))
    if val.network is not None:  # model.combination: what the network alone scored, before the combination
        report |= {key: error_metrics(split.actual, split.network, split.last_known)["rmse"]
                   for key, split in (("network_val_rmse", val), ("network_rmse", test))}
    return report | distribution_report(val, test) if val.quantiles is not None else report


def evaluation_of(val: Forecasts, test: Forecasts, linear_lags: int, is_panel: bool) -> Evaluation:
    """val_rmse, the test report and the significance tests over every series' targets pooled (with a
    distribution its scores too); a panel adds its figures over series (skill_mean,
    series_beating_persistence, objective...) and per_series.csv's table."""
    metrics = split_report(val, test) | {"linear_lags": linear_lags}
    if not is_panel:
        return Evaluation(metrics, val, test)
    per_series = per_series_table(val, test)
    return Evaluation(metrics | panel_metrics(per_series, test), val, test, per_series)
