"""What a backtest leaves beside its folds' run directories: backtest.csv (a row per fold),
predictions.csv and val_predictions.csv (every fold's days), metrics.json (pooled over every
fold's test days), backtest.png, and one TensorBoard HParams session with the pooled figures.
A panel's backtest adds per_series.csv: each series' figures over every fold's days."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from stockrnn.outputs import plots
from stockrnn.data.datamodule import PriceDataModule
from stockrnn.evaluation.confidence_set import VAL_PREDICTIONS
from stockrnn.evaluation.evaluate import split_report
from stockrnn.evaluation.forecasts import Forecasts
from stockrnn.training.folds import Fold
from stockrnn.evaluation.per_series import panel_metrics, per_series_table
from stockrnn.outputs.console import print_results
from stockrnn.outputs.runs import (HPARAM_METRICS, add_png, hparam_metrics, log_hparams_session, markdown_table,
                                  split_ranges)
from stockrnn.utils.files import write_json_atomically

# A fold's figures in backtest.csv, from its run's metrics.json.
FOLD_METRICS = ("n_test", "val_rmse", "persistence_val_rmse", "linear_val_rmse", "test_rmse", "persistence_rmse",
                "linear_rmse", "skill", "linear_skill", "dm_pvalue_persistence", "dm_pvalue_linear", "pt_pvalue",
                "linear_lags", "epochs", "train_seconds")
# And with a distribution (model.distribution): its fold figures and the fold's objective.
FOLD_DISTRIBUTION_METRICS = ("objective", "val_crps", "climatology_val_crps", "test_crps", "climatology_crps",
                             "garch_crps", "crps_skill", "crps_skill_garch", "test_coverage_90",
                             "garch_coverage_90", "test_width_90", "garch_width_90", "dm_pvalue_crps_garch")
# And with model.combination=persistence: the fold's weight and its network's own RMSEs.
FOLD_COMBINATION_METRICS = ("combination_weight", "network_val_rmse", "network_rmse")
BACKTEST_HPARAM_METRICS = (*HPARAM_METRICS, "objective", "skill_mean", "folds_beating_persistence",
                           "folds_beating_linear")
# A panel's figures over its series (panel_report.panel_metrics) in a backtest, where skill_mean
# and skill_median are the backtest's own over folds: a fold's row and metrics.json name them so.
OVER_SERIES = {"skill_mean": "series_skill_mean", "skill_median": "series_skill_median"}


def split_days(datamodule: PriceDataModule) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """The first and last trading day each split really covers (a panel's: over all its series)."""
    days: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    for part in datamodule.parts.values():
        dates = part.frame.index
        for split, (first, last, _) in split_ranges(part).items():
            start, end = days.get(split, (dates[first], dates[last]))
            days[split] = (min(start, dates[first]), max(end, dates[last]))
    return days


def fold_row(fold: Fold, metrics: dict, datamodule: PriceDataModule) -> dict:
    """The fold's line of backtest.csv: the trading days each split really covers, and its figures
    (a panel's: also its series and their mean and median skill)."""
    row = {"fold": fold.number}
    for split, (start, end) in split_days(datamodule).items():
        name = "val" if split == "validation" else split
        row[f"{name}_start"], row[f"{name}_end"] = start.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d")
    row |= {key: metrics[key] for key in (*FOLD_METRICS, *FOLD_DISTRIBUTION_METRICS, *FOLD_COMBINATION_METRICS)
            if key in metrics}
    if "n_series" in metrics:
        row |= {"n_series": metrics["n_series"]} | {name: metrics[key] for key, name in OVER_SERIES.items()}
    return row


def fold_tables(results, which: str) -> pd.DataFrame:
    """Every fold's predictions (which='predictions') or validation predictions, a fold column added."""
    tables = [getattr(result.evaluation, which).assign(fold=result.fold.number) for result in results]
    table = pd.concat(tables, ignore_index=True)
    return table[["date", "fold", *[c for c in table.columns if c not in ("date", "fold")]]]


def pooled_metrics(results) -> tuple[dict, pd.DataFrame | None]:
    """A run's metrics.json keys computed over every fold's days at once, and the folds' spread; a
    panel's also its figures over series (as a panel run's, series_skill_mean and
    series_skill_median for its skill_mean and skill_median) and per_series.csv's table (else None).

    objective: what a sweep minimizes, the mean over folds of each fold's: val_rmse /
    persistence_val_rmse, or with a distribution its validation CRPS relative to climatology's.
    """
    rows = pd.DataFrame([result.row for result in results])
    val, test = (Forecasts.concat([getattr(result.evaluation, split) for result in results])
                 for split in ("val", "test"))
    metrics, per_series = split_report(val, test), None
    if test.series is not None:  # a panel: each series over every fold's days
        per_series = per_series_table(val, test)
        over_series = panel_metrics(per_series, test)
        del over_series["objective"]  # the backtest's is the mean over folds of each fold's, below
        metrics |= {OVER_SERIES.get(key, key): value for key, value in over_series.items()}
    fold_objectives = rows["objective"] if "objective" in rows else rows["val_rmse"] / rows["persistence_val_rmse"]
    metrics |= {
        "epochs": int(rows["epochs"].sum()), "train_seconds": float(rows["train_seconds"].sum()),
        "folds": len(rows), "skill_mean": float(rows["skill"].mean()),
        "skill_std": float(rows["skill"].std(ddof=1)) if len(rows) > 1 else 0.0,
        "skill_min": float(rows["skill"].min()),
        "folds_beating_persistence": int((rows["test_rmse"] < rows["persistence_rmse"]).sum()),
        "folds_beating_linear": int((rows["test_rmse"] < rows["linear_rmse"]).sum()),
        "objective": float(np.mean(fold_objectives)),
    }
    if "combination_weight" in rows:  # the folds' weights, each fit on its own validation days
        metrics["combination_weight"] = float(rows["combination_weight"].mean())
    return metrics, per_series


def write_backtest(results, metrics: dict, per_series: pd.DataFrame | None, output_dir: Path, cfg: DictConfig,
                   hparams: dict, loggers: list[Logger]) -> None:
    """The files, with metrics.json last: its presence means the backtest finished."""
    rows = pd.DataFrame([result.row for result in results])
    rows.to_csv(output_dir / "backtest.csv", index=False, float_format="%.8g")
    if per_series is not None:
        per_series.to_csv(output_dir / "per_series.csv", index=False, float_format="%.8g")
    predictions = fold_tables(results, "predictions")
    predictions.to_csv(output_dir / "predictions.csv", index=False, float_format="%.6f")
    fold_tables(results, "val_predictions").to_csv(output_dir / VAL_PREDICTIONS, index=False, float_format="%.6f")
    title = (f"{cfg.model.cell} on {cfg.data.target}: pooled skill {metrics['skill']:+.3f}, "
             f"linear {metrics['linear_skill']:+.3f}")
    if per_series is not None:  # the forecasts of one series (the skills below are every series')
        first = predictions["series"].iloc[0]
        predictions = predictions[predictions["series"] == first]
        title += f"; series {first} shown (first of {metrics['n_series']})"
    png = plots.save(plots.backtest_figure(predictions, rows, title), output_dir / "backtest.png")
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            log_hparams_session(logger, hparams, hparam_metrics(metrics, BACKTEST_HPARAM_METRICS), 0, output_dir)
            add_png(logger.experiment, "backtest", png, step=0)
            if per_series is not None:
                logger.experiment.add_text("per_series", markdown_table(per_series), global_step=0)
            logger.save()
    write_json_atomically(metrics, output_dir / "metrics.json")


def print_backtest(results, metrics: dict, output_dir: Path) -> None:
    """Each fold's test RMSE beside both baselines with the p-values, then the pooled table."""
    table = Table(title="Backtest folds (test RMSE, price units; one-sided p-values)")
    for column in ("fold", "test days", "n", "model", "persistence", "linear", "skill", "p vs pers.",
                   "p vs linear"):
        table.add_column(column, justify="left" if column == "test days" else "right")
    for result in results:
        row = result.row
        table.add_row(str(row["fold"]), f"{row['test_start']}..{row['test_end']}", str(row["n_test"]),
                      f"{row['test_rmse']:.4f}", f"{row['persistence_rmse']:.4f}", f"{row['linear_rmse']:.4f}",
                      f"{row['skill']:+.4f}", f"{row['dm_pvalue_persistence']:.3g}",
                      f"{row['dm_pvalue_linear']:.3g}")
    Console().print(table)
    # print_results' line over a panel's series reads skill_mean and skill_median, the backtest's over folds here.
    over_series = {key: metrics[name] for key, name in OVER_SERIES.items() if name in metrics}
    print_results(metrics | over_series, output_dir, title=f"Pooled over {metrics['folds']} folds ({metrics['n_test']} "
                                             "out-of-sample forecasts, price units)")
    Console().print(f"skill per fold {metrics['skill_mean']:+.4f} ± {metrics['skill_std']:.4f} (min "
                    f"{metrics['skill_min']:+.4f}); beats persistence in {metrics['folds_beating_persistence']}"
                    f" and the linear model in {metrics['folds_beating_linear']} of {metrics['folds']} folds; "
                    f"objective {metrics['objective']:.4f}", highlight=False)
