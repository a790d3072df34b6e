"""Walk-forward backtest: the configured forecaster fit at K forecast origins, each fold exactly a
train run with that fold's date bounds, and every verdict measured over all their test days.

    python -m stockrnn.backtest [overrides]        # conf/backtest.yaml: the train groups + backtest
"""

from __future__ import annotations

import copy
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from stockrnn.outputs.backtests import fold_row, pooled_metrics, print_backtest, write_backtest
from stockrnn.errors import StockrnnError
from stockrnn.evaluation.evaluate import Evaluation
from stockrnn.training.folds import Fold, check_folds, plan_folds
from stockrnn.outputs.mlflow_runs import check_mlflow_installed, record_backtest, run_ids
from stockrnn.outputs.runs import run_hparams
from stockrnn.utils.files import refuse_finished_run_dir
from stockrnn.train import train
from stockrnn.utils.command import command
from stockrnn.utils.config import check_config
from stockrnn.utils.entry import instantiate_all, sweep_job_failures_recorded, user_errors_exit

log = logging.getLogger(__name__)
FOLDS_DIR = "folds"


@dataclass
class FoldResult:
    fold: Fold
    row: dict  # its line of backtest.csv
    evaluation: Evaluation
    mlflow_runs: list[str]  # the fold's MLflow runs (logger=mlflow), nested under the backtest's


def fold_config(cfg: DictConfig, fold: Fold, output_dir: Path, init_weights: str | None) -> DictConfig:
    """The train config of one fold: the backtest's, with the fold's dates and its own directory."""
    fold_cfg = copy.deepcopy(cfg)
    with open_dict(fold_cfg):
        fold_cfg.data.update(fold.bounds())
        fold_cfg.paths.output_dir = str(output_dir)
        if init_weights is not None:  # else the backtest's own init_weights, if any, for every fold
            fold_cfg.init_weights = init_weights
        fold_cfg.pop("backtest")
    return fold_cfg


def folds_of(cfg: DictConfig) -> list[Fold]:
    """The folds on this data's dates (a panel's: every date any of its series has), each checked to
    have enough rows before anything trains. A panel's series too short for a fold are dropped from
    that fold with a warning, as a run drops them."""
    datamodule = instantiate(cfg.data)
    dates = functools.reduce(pd.Index.union, (frame.index for frame in datamodule.read_series().values()))
    folds = plan_folds(dates, cfg.backtest, cfg.data)
    check_folds(folds, dates, cfg.data)
    return folds


def backtest(cfg: DictConfig) -> tuple[dict, list[FoldResult]]:
    """Run every fold in this process (imports and set-up paid once); returns the pooled metrics."""
    check_config(cfg, split_bounds=False)  # each fold's bounds are checked as its train run starts
    check_mlflow_installed(cfg.get("logger"))
    if cfg.get("ckpt_path"):
        raise StockrnnError(f"ckpt_path={cfg.ckpt_path}: a backtest is not resumed, it is run again; to start "
                            "every fold from a checkpoint's weights use init_weights, or backtest.warm_start=true")
    output_dir = Path(cfg.paths.output_dir)
    refuse_finished_run_dir(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    folds = folds_of(cfg)
    log.info("backtest: %d folds, %s window, test periods %s..%s", len(folds), cfg.backtest.window,
             folds[0].test_start, folds[-1].test_end)
    results, init_weights = [], None
    for fold in folds:
        log.info("%s", fold.describe())
        try:
            metrics, objects = train(fold_config(cfg, fold, output_dir / FOLDS_DIR / str(fold.number), init_weights))
        except StockrnnError as err:  # a fold that diverged, say: which one, and no pooled metrics.json
            raise StockrnnError(f"{fold.describe()}: {err}") from err
        results.append(FoldResult(fold, fold_row(fold, metrics, objects["datamodule"]), objects["evaluation"],
                                  run_ids(objects["trainer"].loggers)))
        if cfg.backtest.warm_start:
            init_weights = getattr(objects["trainer"].checkpoint_callback, "best_model_path", None) or None
    metrics, per_series = pooled_metrics(results)
    loggers = instantiate_all(cfg.get("logger"))
    write_backtest(results, metrics, per_series, output_dir, cfg, run_hparams(cfg), loggers)
    print_backtest(results, metrics, output_dir)
    record_backtest(loggers, run_hparams(cfg), metrics, output_dir,
                    {result.fold.number: result.mlflow_runs for result in results})
    return metrics, results


@command("backtest")
def main(cfg: DictConfig) -> float | None:
    """Returns the objective a sweeper minimizes: the mean over folds of val_rmse relative to
    persistence on the same validation windows, so that years of different price levels weigh
    alike (with a distribution: of validation CRPS relative to climatology's). A failed sweep job
    leaves error.json and returns None, as train does."""
    with user_errors_exit(), sweep_job_failures_recorded():
        metrics, _ = backtest(cfg)
        return metrics["objective"]
    return None


if __name__ == "__main__":
    main()
