"""Where the Hydra configs live, and the checks a config passes before any data is read."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from stockrnn.data.sources import PANEL_LAYOUTS, check_series_setting
from stockrnn.data.sources import is_panel
from stockrnn.data.prices import DECIMALS, FILLS, SEPARATORS
from stockrnn.data.scaling import SCALERS
from stockrnn.data.sessions import check_calendar
from stockrnn.data.splits import date_bound
from stockrnn.models.calibration import CALIBRATIONS
from stockrnn.models.combination import COMBINATIONS
from stockrnn.data.targets import TRANSFORMS
from stockrnn.data.window_norm import WINDOW_NORMS
from stockrnn.errors import StockrnnError
from stockrnn.evaluation.interval_scores import LEVELS
from stockrnn.models.distributions import DISTRIBUTIONS
from stockrnn.models.network import CELLS

# conf/ sits at the repository root, beside src/ (an editable install, as the Makefile does).
CONFIG_DIR = os.environ.get("STOCKRNN_CONFIG_DIR", str(Path(__file__).resolve().parents[3] / "conf"))
# Longest run name: a directory name may not exceed 255 bytes.
RUN_NAME_LIMIT = 200


def run_name(overrides: list[str]) -> str:
    """A run's overrides as one directory name: `data.n_steps=10,model=gru`.

    A path value keeps only its file name (`data.path=prices.csv`): a slash would nest
    directories, and `..` could leave the run's own.
    """
    items = []
    for item in overrides:
        key, sep, value = item.partition("=")
        items.append(key.replace("/", ".") + sep + value.rstrip("/").rpartition("/")[2])
    name = ",".join(items)
    return name if len(name) <= RUN_NAME_LIMIT else name[:RUN_NAME_LIMIT - 3] + "..."


def slurm_gpus(accelerator, devices) -> int | None:
    """GPUs a SLURM job asks for (`gpus_per_node` in conf/hydra/launcher/submitit_slurm.yaml):
    `trainer.devices` when `trainer.accelerator` is a GPU (`gpu`, `cuda`), else none (null).

    A device count it cannot read (`auto`, -1) also gives null: set gpus_per_node yourself.
    """
    if str(accelerator).lower() not in ("gpu", "cuda"):
        return None
    if isinstance(devices, (list, tuple)) or (hasattr(devices, "__len__") and not isinstance(devices, str)):
        return len(devices) or None
    try:
        count = int(str(devices))
    except ValueError:  # "auto"
        return None
    return count if count > 0 else None


def validation_monitor(distribution: str, data: Mapping | None = None) -> str:
    """What picks the best checkpoint and stops early: the point forecast's val/rmse, or for a
    distribution its CRPS (val/crps), so the intervals are chosen and not only their median. A
    panel's point forecast: val/objective, the mean over series of RMSE relative to persistence's,
    as its sweeps rank it (a pooled RMSE would follow the highest-priced series)."""
    if distribution not in (None, "none"):
        return "val/crps"
    data = data or {}
    if is_panel(data.get("path"), data.get("embedded"), data.get("series_column"), data.get("layout", "long")):
        return "val/objective"
    return "val/rmse"


def default_combination(distribution: str) -> str:
    """model.combination's default: a point forecast is combined with persistence (a weight fit on
    validation keeps a network without signal from doing harm); a distribution, whose intervals the
    combination would not move with it, is not."""
    return "persistence" if distribution in (None, "none") else "none"


OmegaConf.register_new_resolver("stockrnn.run_name", run_name, replace=True)
OmegaConf.register_new_resolver("stockrnn.validation_monitor", validation_monitor, replace=True)
OmegaConf.register_new_resolver("stockrnn.slurm_gpus", slurm_gpus, replace=True)
OmegaConf.register_new_resolver("stockrnn.default_combination", default_combination, replace=True)
# conf/hydra/launcher/submitit_slurm.yaml shares its name with the plugin's schema on purpose:
# `hydra/launcher=submitit_slurm` keeps working with our cluster defaults. Hydra 1.3 validates it
# against that schema and warns that it will stop doing so; the file lists every key the launcher
# reads, so it also works without the schema.
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/submitit_slurm' is validated against ConfigStore schema")


def _positive_int(value, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StockrnnError(f"{key}={value!r}: expected a positive integer")


def _in_range(value, key: str, low: float, high: float, closed_low: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        (low <= value if closed_low else low < value) and value < high)
    if not ok:
        bracket = "[" if closed_low else "("
        raise StockrnnError(f"{key}={value!r}: expected a number in {bracket}{low}, {high})")


def _one_of(value, key: str, allowed) -> None:
    if value not in allowed:
        raise StockrnnError(f"{key}={value!r}: expected one of {', '.join(map(str, allowed))}")


# Null means "the first row" / "the last row"; the other two bounds say where the split is.
OPEN_BOUNDS = ("train_start", "test_end")
REQUIRED_BOUNDS = ("train_end", "test_start")


def _bound(data: Mapping, key: str, end: bool):
    """The bound as a timestamp; None for an open bound left null."""
    if key in OPEN_BOUNDS and data.get(key) is None:
        return None
    try:
        return date_bound(data.get(key), end=end)
    except ValueError:
        raise StockrnnError(f"data.{key}={data.get(key)!r}: expected a year, month or date "
                            "(e.g. 2016, 2016-06 or 2016-06-30)") from None


def check_data_settings(data: Mapping, split_bounds: bool = True) -> None:
    """The data settings of a run (train: the config; eval: the checkpoint's with overrides).
    split_bounds=False: a backtest, whose folds set data.train_end and data.test_start."""
    for key in ("n_steps", "horizon", "batch_size"):
        _positive_int(data.get(key), f"data.{key}")
    _in_range(data.get("val_fraction"), "data.val_fraction", 0.0, 1.0, closed_low=False)
    _one_of(data.get("scaler"), "data.scaler", SCALERS)
    if data.get("fill") is not None:
        _one_of(data.get("fill"), "data.fill", FILLS)
    _one_of(data.get("transform", "level"), "data.transform", TRANSFORMS)
    _one_of(data.get("window_norm", "none"), "data.window_norm", WINDOW_NORMS)
    check_calendar(data.get("calendar"))
    for key, allowed in (("sep", SEPARATORS), ("decimal", DECIMALS)):
        if data.get(key) is not None and data.get(key) not in allowed:  # quoted: a tab shows as '\t'
            raise StockrnnError(f"data.{key}={data.get(key)!r}: expected one of "
                                f"{', '.join(map(repr, allowed))} (or null: detect it)")
    if data.get("sep") == "," and data.get("decimal") == ",":
        raise StockrnnError("data.decimal=',' needs another separator than a comma (data.sep=';')")
    _one_of(data.get("layout", "long"), "data.layout", PANEL_LAYOUTS)
    series_column = data.get("series_column")
    if series_column is not None and not (isinstance(series_column, str) and series_column.strip()):
        raise StockrnnError(f"data.series_column={series_column!r}: expected the name of the column naming "
                            "each row's series (e.g. Ticker), or null")
    check_series_setting(data.get("series"))
    features = data.get("features")
    if isinstance(features, str) or not features:
        raise StockrnnError(f"data.features={features!r}: expected a list of input columns, e.g. [High]")
    if not split_bounds:
        start, end = _bound(data, "train_start", False), _bound(data, "test_end", True)
        if start is not None and end is not None and start > end:
            raise StockrnnError(f"data.train_start ({data.get('train_start')}) is after "
                                f"data.test_end ({data.get('test_end')})")
        return
    missing = [f"data.{key}" for key in REQUIRED_BOUNDS if data.get(key) is None]
    if missing:
        raise StockrnnError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} needed: the last training "
            "period and the first test period (e.g. data.train_end=2019 data.test_start=2020); "
            "data.train_start and data.test_end may stay null, meaning the first and the last row")
    train_start, train_end = _bound(data, "train_start", False), _bound(data, "train_end", True)
    test_start, test_end = _bound(data, "test_start", False), _bound(data, "test_end", True)
    for what, start, end in (("train", train_start, train_end), ("test", test_start, test_end)):
        if start is not None and end is not None and start > end:
            raise StockrnnError(f"data.{what}_start ({data.get(f'{what}_start')}) is after "
                                f"data.{what}_end ({data.get(f'{what}_end')})")
    if test_start <= train_end:
        raise StockrnnError(f"data.test_start ({data.get('test_start')}) must come after "
                            f"data.train_end ({data.get('train_end')})")


def check_distribution_settings(model: Mapping) -> None:
    """model.distribution, model.quantiles, model.calibration and model.combination, before any data
    is read."""
    distribution = model.get("distribution", "none")
    _one_of(distribution, "model.distribution", DISTRIBUTIONS)
    combination = model.get("combination", "none")
    _one_of(combination, "model.combination", COMBINATIONS)
    if combination != "none" and distribution != "none":
        # The combination moves the point in price units; a distribution's quantiles (and its conformal
        # shifts, fit during training in the scaled target's space) would have to move with it.
        raise StockrnnError(f"model.combination={combination} combines a point forecast with persistence and "
                            f"model.distribution={distribution} forecasts a distribution: the two do not go "
                            "together yet; set model.combination=none or model.distribution=none")
    _one_of(model.get("calibration", "none"), "model.calibration", CALIBRATIONS)
    if model.get("calibration", "none") != "none" and distribution == "none":
        raise StockrnnError(f"model.calibration={model.get('calibration')} calibrates intervals, and a point "
                            "forecast has none: set model.distribution=quantile or normal")
    levels = model.get("quantiles")
    if distribution == "none" or levels is None:
        return
    shown = f"model.quantiles={levels}"
    levels = [] if isinstance(levels, (str, int, float)) else list(levels)
    if not levels or not all(isinstance(level, (int, float)) and not isinstance(level, bool) for level in levels):
        raise StockrnnError(f"{shown}: expected a list of numbers, e.g. [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]")
    outside = [level for level in levels if not 0 < level < 1]
    if outside:
        raise StockrnnError(f"{shown}: {outside[0]} is not a probability strictly between 0 and 1")
    if any(b <= a for a, b in zip(levels, levels[1:])):
        raise StockrnnError(f"{shown}: expected increasing levels without duplicates")
    missing = [level for level in LEVELS if level not in levels]
    if missing:
        raise StockrnnError(f"{shown} lacks {missing}: the interval metrics read the levels "
                            f"{list(LEVELS)} (more may be added)")


def check_window_norm(data: Mapping) -> None:
    """An input-only window normalization drops the price level a level target is in: the network
    would have to guess it (the default MSFT run, 3 epochs: validation RMSE 17.3 against 3.42 without).
    Checked for a run to train, not in check_data_settings: a checkpoint trained so still evaluates."""
    window_norm, transform = data.get("window_norm", "none"), data.get("transform", "level")
    if window_norm in ("standard", "robust") and transform == "level":
        raise StockrnnError(
            f"data.window_norm={window_norm} with data.transform=level: each input window loses its price "
            "level, which a level target needs; use data.window_norm=revin (it normalizes the target by the "
            "same window and maps the forecast back) or a change target, data.transform=log_return (or diff)")


def check_config(cfg: DictConfig, split_bounds: bool = True) -> None:
    """Reject impossible values once, where the config is read, with the key and what was expected.
    split_bounds=False leaves out data.train_end and data.test_start, which a backtest's folds set."""
    check_data_settings(cfg.data, split_bounds)
    check_window_norm(cfg.data)
    model = cfg.model
    for key in ("hidden_size", "num_layers"):
        _positive_int(model.get(key), f"model.{key}")
    _in_range(model.dropout, "model.dropout", 0.0, 1.0, closed_low=True)
    _one_of(model.cell, "model.cell", CELLS)
    embedding = model.get("series_embedding", 0)
    if isinstance(embedding, bool) or not isinstance(embedding, int) or embedding < 0:
        raise StockrnnError(f"model.series_embedding={embedding!r}: expected 0 (off) or a positive integer")
    check_distribution_settings(model)
    # The module steps its own minibatches (manual optimization), which Lightning refuses to
    # combine with its automatic clipping and accumulation: point at what works instead.
    trainer = cfg.get("trainer") or {}
    if trainer.get("gradient_clip_val"):
        raise StockrnnError(f"trainer.gradient_clip_val={trainer.get('gradient_clip_val')}: set "
                            "model.gradient_clip_val instead (the model clips its own minibatches)")
    if trainer.get("accumulate_grad_batches", 1) != 1:
        raise StockrnnError("trainer.accumulate_grad_batches: not supported; use a larger data.batch_size")
