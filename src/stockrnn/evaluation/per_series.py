"""A panel's figures series by series (per_series.csv) and the metrics.json keys drawn from them: the
existing reports run on each series' part of the pooled forecasts, so a row means what a lone run's
metrics.json means."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockrnn.evaluation.distributions import distribution_report
from stockrnn.evaluation.forecasts import Forecasts
from stockrnn.evaluation.metrics import error_metrics, forecast_report, skill, validation_report
from stockrnn.evaluation.significance import diebold_mariano

# per_series.csv's columns: per_series_table's name -> the report key it is read from.
POINT_COLUMNS = {
    "n_test": "n_test", "rmse": "test_rmse", "mae": "test_mae", "mape": "test_mape",
    "direction_acc": "test_direction_acc", "persistence_rmse": "persistence_rmse",
    "persistence_mae": "persistence_mae", "linear_rmse": "linear_rmse", "linear_mae": "linear_mae",
    "local_linear_rmse": "local_linear_rmse", "local_linear_mae": "local_linear_mae",
    "skill": "skill", "linear_skill": "linear_skill", "local_linear_skill": "local_linear_skill",
    "dm_pvalue_persistence": "dm_pvalue_persistence", "dm_pvalue_linear": "dm_pvalue_linear",
    "dm_pvalue_local_linear": "dm_pvalue_local_linear", "pt_pvalue": "pt_pvalue",
    "val_rmse": "val_rmse", "persistence_val_rmse": "persistence_val_rmse",
    "linear_val_rmse": "linear_val_rmse", "val_skill": "val_skill", "objective": "objective",
}
# And with a distribution (model.distribution); `objective` is then the series' CRPS ratio.
DISTRIBUTION_COLUMNS = {
    "crps": "test_crps", "climatology_crps": "climatology_crps", "garch_crps": "garch_crps",
    "crps_skill": "crps_skill", "crps_skill_garch": "crps_skill_garch", "coverage_90": "test_coverage_90",
    "garch_coverage_90": "garch_coverage_90", "width_90": "test_width_90",
    "dm_pvalue_crps_garch": "dm_pvalue_crps_garch",
    "dm_pvalue_crps_climatology": "dm_pvalue_crps_climatology",
    "val_crps": "val_crps", "climatology_val_crps": "climatology_val_crps",
}


def local_linear_report(split: Forecasts) -> dict[str, float]:
    """The local linear model's (one ridge per series) figures, named as the global ridge's
    `linear_*` with `local_` before: one series' or the pooled panel's."""
    errors = error_metrics(split.actual, split.local_linear, split.last_known)
    persistence = error_metrics(split.actual, split.persistence, split.last_known)
    return ({f"local_linear_{key}": value for key, value in errors.items()}
            | {"local_linear_skill": skill(errors["rmse"], persistence["rmse"])})


def series_report(val: Forecasts, test: Forecasts) -> dict[str, float]:
    """Every figure of one series: a lone run's metrics.json keys on its windows, the local linear
    model's, and the objective a sweep would minimize on this series alone."""
    report = (validation_report(val.actual, val.predicted, val.linear, val.last_known)
              | forecast_report(test.actual, test.predicted, test.linear, test.last_known)
              | local_linear_report(test))
    _, report["dm_pvalue_local_linear"] = diebold_mariano(test.actual, test.predicted, test.local_linear)
    report["val_skill"] = skill(report["val_rmse"], report["persistence_val_rmse"])
    report["objective"] = report["val_rmse"] / report["persistence_val_rmse"]
    if test.quantiles is not None:  # its own objective: validation CRPS relative to climatology's
        report |= distribution_report(val, test)
    return report


def per_series_table(val: Forecasts, test: Forecasts) -> pd.DataFrame:
    """per_series.csv: a row per series, in the order the series first appear in `test`; the
    columns of POINT_COLUMNS, and DISTRIBUTION_COLUMNS with quantiles."""
    columns = POINT_COLUMNS | (DISTRIBUTION_COLUMNS if test.quantiles is not None else {})
    rows = []
    val_parts = val.by_series()
    for name, test_part in test.by_series().items():
        report = series_report(val_parts[name], test_part)
        rows.append({"series": name} | {column: report[key] for column, key in columns.items()})
    return pd.DataFrame(rows)


def panel_metrics(per_series: pd.DataFrame, test: Forecasts) -> dict:
    """The metrics.json keys a panel adds to the pooled ones (which split_report computes on the
    pooled forecasts, as for one series):

    - `n_series`: the series evaluated (rows of per_series.csv);
    - `skill_mean`, `skill_median`: the mean and median over series of each series' test skill
      (1 - its RMSE / persistence's on its own targets): scale-free, unlike the pooled `skill`,
      which the highest-priced series dominate;
    - `series_beating_persistence`: series with skill above 0;
    - `series_beating_linear`, `series_beating_local_linear`: series whose test RMSE is below that
      of the global ridge (`linear`), of its own ridge (`local_linear`) on its targets;
    - `local_linear_rmse`, `local_linear_mae`, `local_linear_mape`, `local_linear_direction_acc`,
      `local_linear_skill`: the local linear model (one ridge per series) pooled over every test
      target, as `linear_*` are for the global ridge;
    - `objective`: what a sweep of a panel minimizes, the mean over series of val_rmse /
      persistence_val_rmse (each series' own validation windows, so scale-free); with a
      distribution the mean over series of val_crps / climatology_val_crps instead. It replaces
      split_report's pooled `objective`: merge these keys after split_report's.
    """
    skills = per_series["skill"]
    return {
        "n_series": len(per_series),
        "skill_mean": float(skills.mean()), "skill_median": float(skills.median()),
        "series_beating_persistence": int((skills > 0).sum()),
        "series_beating_linear": int((per_series["rmse"] < per_series["linear_rmse"]).sum()),
        "series_beating_local_linear": int((per_series["rmse"] < per_series["local_linear_rmse"]).sum()),
        **local_linear_report(test),
        "objective": float(np.mean(per_series["objective"])),
    }
