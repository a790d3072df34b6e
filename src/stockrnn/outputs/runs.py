"""Everything a run leaves beside its checkpoints: metrics.json, predictions, pictures, TensorBoard."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import pandas as pd
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from stockrnn.outputs import plots
from stockrnn.training.callbacks import run_log
from stockrnn.evaluation.confidence_set import VAL_PREDICTIONS  # the validation forecasts a sweep's MCS compares
from stockrnn.data.datamodule import PriceDataModule
from stockrnn.data.series import PriceSeries
from stockrnn.evaluation.distributions import BASELINES
from stockrnn.evaluation.evaluate import Evaluation
from stockrnn.evaluation.interval_scores import SCORES
from stockrnn.utils.files import write_json_atomically

log = logging.getLogger(__name__)

# metrics.json key -> TensorBoard scalar name (slash style, stable).
TENSORBOARD_NAMES = {
    "test_rmse": "test/rmse", "test_mae": "test/mae", "test_mape": "test/mape",
    "test_direction_acc": "test/direction_acc", "skill": "test/skill",
    "persistence_rmse": "test/persistence_rmse", "persistence_mae": "test/persistence_mae",
    "persistence_mape": "test/persistence_mape",
    "persistence_direction_acc": "test/persistence_direction_acc",
    "linear_rmse": "test/linear_rmse", "linear_mae": "test/linear_mae", "linear_mape": "test/linear_mape",
    "linear_direction_acc": "test/linear_direction_acc",
    "linear_skill": "test/linear_skill", "linear_val_rmse": "val/linear_rmse",
    "persistence_val_rmse": "val/persistence_rmse", "linear_lags": "val/linear_lags",
    "dm_pvalue_persistence": "test/dm_pvalue_persistence", "dm_pvalue_linear": "test/dm_pvalue_linear",
    "pt_pvalue": "test/pt_pvalue",
} | {"crps_skill": "test/crps_skill", "crps_skill_garch": "test/crps_skill_garch",
     "dm_pvalue_crps_garch": "test/dm_pvalue_crps_garch",
     "dm_pvalue_crps_climatology": "test/dm_pvalue_crps_climatology"}
# Not `objective`: it is hp/objective in HParams, and a panel's val/objective is its per-epoch curve.
# A panel's (evaluation/per_series.py): figures over its series, and the local linear model's beside the global one's.
TENSORBOARD_NAMES |= {key: f"panel/{key}" for key in ("n_series", "skill_mean", "skill_median",
                                                      "series_beating_persistence", "series_beating_linear",
                                                      "series_beating_local_linear")}
TENSORBOARD_NAMES |= {f"local_linear_{key}": f"test/local_linear_{key}"
                      for key in ("rmse", "mae", "mape", "direction_acc", "skill")}


def interval_score_names() -> dict[str, str]:
    """A distribution's scores: test_crps -> test/crps, garch_val_coverage_90 -> val/garch_coverage_90.
    Not val_crps: val/crps is already the per-epoch curve (before calibration)."""
    names = {}
    for score in SCORES:
        names[f"test_{score}"] = f"test/{score}"
        if score != "crps":
            names[f"val_{score}"] = f"val/{score}"
        for baseline in BASELINES:
            names[f"{baseline}_{score}"] = f"test/{baseline}_{score}"
            names[f"{baseline}_val_{score}"] = f"val/{baseline}_{score}"
    return names


TENSORBOARD_NAMES |= interval_score_names()
# Shown in TensorBoard's HParams tab against the run's hyperparameters.
HPARAM_METRICS = ("val_rmse", "test_rmse", "skill", "persistence_rmse", "linear_rmse",
                  "dm_pvalue_persistence", "dm_pvalue_linear")
# And those of a run with a distribution.
DISTRIBUTION_HPARAM_METRICS = ("objective", "val_crps", "test_crps", "garch_crps", "climatology_crps",
                               "crps_skill", "crps_skill_garch", "test_coverage_90", "test_width_90",
                               "dm_pvalue_crps_garch")
# And those of a panel.
PANEL_HPARAM_METRICS = ("objective", "skill_mean", "skill_median", "series_beating_persistence",
                        "series_beating_linear", "local_linear_rmse", "local_linear_skill")


def hparam_metrics(metrics: dict, keys=HPARAM_METRICS) -> dict:
    """The final figures of a run's HParams session: `keys`, and its distribution's and panel's when
    it is one."""
    return {f"hp/{key}": metrics[key] for key in (*keys, *DISTRIBUTION_HPARAM_METRICS, *PANEL_HPARAM_METRICS)
            if key in metrics}
# The run's hyperparameters in the HParams tab: these keys and every key under a prefix ending in
# a dot. Run-level settings (paths, checkpointing, the progress bar, the accelerator) stay out:
# constant columns that would crowd the swept ones.
HYPERPARAMETERS = ("seed", "data.", "model.", "backtest.", "trainer.max_epochs",
                   "callbacks.early_stopping.patience", "callbacks.early_stopping.min_delta",
                   "callbacks.weight_averaging.decay")


def run_hparams(cfg: DictConfig) -> dict:
    """The resolved config a run's loggers record, without the run-level groups (paths, Hydra,
    the loggers themselves)."""
    hparams = OmegaConf.to_container(cfg, resolve=True)
    for run_level_only in ("paths", "hydra", "logger"):
        hparams.pop(run_level_only, None)
    return hparams


def tensorboard_writers(loggers: list[Logger]):
    return [lg.experiment for lg in loggers if isinstance(lg, TensorBoardLogger)]


def add_png(writer, tag: str, png: bytes, step: int) -> None:
    """A picture in TensorBoard's Images tab as the PNG written beside it (plots.save). Not
    add_figure: it draws the figure again and turns its pixels into floats on the way, 36 MB for
    a panel's three-series picture."""
    width, height, _, colour_type = struct.unpack(">IIBB", png[16:26])  # the PNG header's IHDR chunk
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]  # grey, RGB, grey and alpha, RGBA (matplotlib's)
    image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=png)
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)


def series_name(datamodule: PriceDataModule) -> str:
    """The target and where it comes from, for axis labels: "High (prices.csv)"."""
    origin = Path(datamodule.path).name if datamodule.path is not None else f"embedded dataset '{datamodule.embedded}'"
    return f"{datamodule.target} ({origin})"


def split_ranges(part: PriceSeries) -> dict[str, tuple[int, int, int]]:
    """Each split's target rows [first, last] and its number of windows."""
    splits, horizon = part.splits, part.horizon
    return {"train": (splits.train_rows[0], splits.train.stop - 1, splits.train.count),
            "validation": (splits.val.first, splits.val.stop - 1 + horizon - 1, splits.val.count),
            "test": (splits.test_rows[0], splits.test_rows[1] - 1, splits.test.count)}


def write_data_split(datamodule: PriceDataModule, output_dir: Path, loggers: list[Logger]) -> None:
    """data_split.png (a panel's: its first series), the same figure in TensorBoard, and each
    series' ranges in train.log."""
    for name, part in datamodule.parts.items():
        dates = part.frame.index
        for split, (first, last, windows) in split_ranges(part).items():
            run_log.info("%s%s: %s..%s, %d rows, %d windows", f"{name} " if datamodule.n_series > 1 else "", split,
                         dates[first].date(), dates[last].date(), last - first + 1, windows)
    name, part = next(iter(datamodule.parts.items()))
    ranges = {split: (part.frame.index[first], part.frame.index[last])
              for split, (first, last, _) in split_ranges(part).items()}
    shown = part.frame[part.target].iloc[part.splits.train_rows[0]:part.splits.test_rows[1]]
    label = series_name(datamodule) + (f", series {name} (first of {datamodule.n_series})"
                                       if datamodule.n_series > 1 else "")
    png = plots.save(plots.data_split_figure(shown, ranges, label), output_dir / "data_split.png")
    for writer in tensorboard_writers(loggers):
        add_png(writer, "data_split", png, step=0)


def write_results(evaluation: Evaluation, output_dir: Path, loggers: list[Logger],
                  hparams: dict, step: int, title: str, series: str) -> None:
    """predictions.csv/.png and TensorBoard first; metrics.json last, as the sign the run finished.
    step: the x value of the final scalars, the run's last epoch (0-based, as the losses')."""
    metrics = evaluation.metrics
    evaluation.test.write_csv(output_dir / "predictions.csv", float_format="%.6f")
    evaluation.val.write_csv(output_dir / VAL_PREDICTIONS, float_format="%.6f")
    per_series = evaluation.per_series
    if per_series is not None:
        # Significant digits, as backtest.csv: p-values near 0 and low-priced series' figures keep theirs.
        per_series.to_csv(output_dir / "per_series.csv", index=False, float_format="%.8g")
    png = plots.save(predictions_picture(evaluation, title, series), output_dir / "predictions.png")
    scalars = {name: metrics[key] for key, name in TENSORBOARD_NAMES.items() if key in metrics}
    for logger in loggers:
        if isinstance(logger, MLFlowLogger):  # gets metrics.json's own keys and the files (mlflow_runs.py)
            continue
        logger.log_metrics(scalars, step=step)
        if isinstance(logger, TensorBoardLogger):
            log_hparams_session(logger, hparams, hparam_metrics(metrics), step, output_dir)
            add_png(logger.experiment, "predictions", png, step)
            if per_series is not None:
                logger.experiment.add_text("per_series", markdown_table(per_series), global_step=step)
        else:
            logger.log_hyperparams(hparams)
        logger.save()
    write_json_atomically(metrics, output_dir / "metrics.json")


def predictions_picture(evaluation: Evaluation, title: str, series: str) -> Figure:
    """predictions.png: the test range with the pooled figures in the title; a panel's best, median and
    worst series with their skills instead (its pooled RMSE mixes prices of every size)."""
    metrics = evaluation.metrics
    if evaluation.per_series is not None:
        title = (f"{title}: {metrics['n_series']} series, skill per series mean "
                 f"{metrics['skill_mean']:+.3f}, median {metrics['skill_median']:+.3f}")
        by_series = evaluation.test.by_series()  # the shown series' rows only, not the whole panel's table
        shown = pd.concat([by_series[name].table() for name in plots.shown_series(evaluation.per_series)])
        return plots.panel_predictions_figure(shown, evaluation.per_series, title, series)
    title = f"{title}: test RMSE {metrics['test_rmse']:.3f} vs persistence {metrics['persistence_rmse']:.3f}"
    if "test_crps" in metrics:
        title += f"; CRPS {metrics['test_crps']:.3f} vs GARCH {metrics['garch_crps']:.3f}"
    return plots.predictions_figure(evaluation.predictions, title, series)


def markdown_table(frame: pd.DataFrame) -> str:
    """A table as Markdown (TensorBoard's text tab renders it), numbers to 4 significant digits."""
    def cell(value) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + " --- |" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def readable_hparams(config: dict, run_dir: str, prefix: str = "",
                     kept: tuple[str, ...] = HYPERPARAMETERS) -> dict[str, float | int | bool | str]:
    """The run's hyperparameters (`kept`, as HYPERPARAMETERS; ("",) keeps every key) flattened to
    the keys one types as overrides (`data.n_steps`, `model.cell`), with values TensorBoard can
    show. Left out: instantiation keys (`_target_`, ...), run-level settings and paths inside
    `run_dir`, which differ in every run and would crowd the swept hyperparameters in the HParams tab."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if str(key).startswith("_") or (isinstance(value, str) and value.startswith(run_dir)):
            continue
        if not any(name == wanted.rstrip(".") or name.startswith(wanted) or wanted.startswith(f"{name}.")
                   for wanted in kept):
            continue
        if isinstance(value, dict):
            flat |= readable_hparams(value, run_dir, f"{name}.", kept)
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:  # None and lists: shown as text, not dropped, so every run has every key
            flat[name] = json.dumps(value)
    return flat


def log_hparams_session(logger: TensorBoardLogger, hparams: dict, metrics: dict, step: int,
                        run_dir: Path) -> None:
    """The run's hyperparameters and final metrics as one session of TensorBoard's HParams tab.

    Only the session records, not the experiment record Lightning adds to every run: TensorBoard
    takes the first experiment record it finds as the columns of a whole log directory, so a sweep
    would show one job's. Without it TensorBoard builds the columns from all sessions and lists
    the hyperparameters whose values differ (the swept ones) first.
    """
    logger.log_metrics(metrics, step=step)
    _, session_start, session_end = hparams_summaries(readable_hparams(hparams, str(run_dir)), metrics)
    writer = logger.experiment._get_file_writer()  # as Lightning's own log_hyperparams does
    writer.add_summary(session_start)
    writer.add_summary(session_end)
