"""A distribution run's intervals in price units (calibrated when asked), the climatology and GARCH
baselines' on the same targets, and their scores: CRPS, pinball, coverage, width, interval score."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from stockrnn.evaluation.calibration import calibrate, cross_fitted
from stockrnn.data.datamodule import StockDataModule
from stockrnn.evaluation.distribution_baselines import (
    CLIMATOLOGY_MIN_CHANGES,
    GARCH_MIN_CHANGES,
    climatology_quantiles,
    garch_quantiles,
)
from stockrnn.errors import StockrnnError
from stockrnn.evaluation.forecasts import Forecasts
from stockrnn.evaluation.interval_scores import crps_per_window, interval_metrics
from stockrnn.evaluation.metrics import skill
from stockrnn.models.forecaster import Forecaster
from stockrnn.evaluation.significance import diebold_mariano_losses

# The distribution baselines, each fit on the training rows only (see distribution_baselines.py).
BASELINES = {"climatology": climatology_quantiles, "garch": garch_quantiles}


def levels_of(module: Forecaster) -> tuple[float, ...]:
    return tuple(float(level) for level in module.hparams.quantiles)


def checkpoint_calibration(module: Forecaster) -> Callable[[np.ndarray], np.ndarray] | None:
    """model.calibration=conformal: scaled quantiles shifted as the checkpoint keeps for its weights
    (fit on every validation window, see Forecaster.on_validation_epoch_end): how the test days
    and predict's coming days are calibrated. None without calibration."""
    if module.hparams.get("calibration", "none") != "conformal":
        return None
    offsets, levels = module.conformal_offsets, levels_of(module)
    if offsets is None:
        raise StockrnnError("model.calibration=conformal, but the module holds no shifts: they are fit at the end "
                            "of each validation epoch (trainer.limit_val_batches must not be 0)")
    return lambda quantiles: calibrate(quantiles, offsets, levels)


def network_quantiles(module: Forecaster, datamodule: StockDataModule, outputs: torch.Tensor,
                      last_known: np.ndarray, calibrated: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    """The network's quantiles (windows x horizon x levels) in price units, after `calibrated` (a
    function of the scaled quantiles) when given."""
    quantiles = module.kind.quantiles(outputs).numpy()
    if calibrated is not None:
        quantiles = calibrated(quantiles)
    return datamodule.to_price(quantiles, last_known[:, None])


def calibrations(module: Forecaster, datamodule: StockDataModule, val: Forecasts) -> dict[str, Callable | None]:
    """How each split's quantiles are calibrated: test with the checkpoint's shifts, validation
    cross-fitted (no window scored with shifts fit on itself)."""
    test = checkpoint_calibration(module)
    if test is None:
        return {"val": None, "test": None}
    levels = levels_of(module)
    scaled_targets = datamodule.target_codec.encode(val.actual, val.last_known)
    return {"val": lambda quantiles: cross_fitted(quantiles, scaled_targets, levels), "test": test}


def baseline_fit_rows(datamodule: StockDataModule) -> tuple[int, int]:
    """The rows the distribution baselines are fit on: the training rows before the first
    validation target, so that on validation, too, they forecast days they have not seen."""
    return datamodule.splits.train_rows[0], datamodule.splits.val.first


def check_baseline_rows(datamodule: StockDataModule) -> None:
    """Before a fit: enough rows for both baselines, in the keys a user sets."""
    first, stop = baseline_fit_rows(datamodule)
    needed = max(GARCH_MIN_CHANGES + 1, CLIMATOLOGY_MIN_CHANGES + datamodule.horizon)
    if stop - first < needed:
        dates = datamodule.frame.index
        raise StockrnnError(
            f"{datamodule.source}: the distribution baselines (GARCH, climatology) are fit on the training rows "
            "before validation, "
            f"{dates[first].date()}..{dates[stop - 1].date()} ({stop - first} rows), and need at least {needed}: "
            "start data.train_start earlier or lower data.val_fraction")


def baseline_quantiles(datamodule: StockDataModule, levels: tuple[float, ...],
                       names: tuple[str, ...] = tuple(BASELINES)) -> tuple[dict, dict]:
    """Each baseline's quantiles for the validation and the test windows (two dicts by name), each
    fit once for both (on baseline_fit_rows)."""
    splits = datamodule.splits
    anchors = [np.arange(windows.first, windows.stop) - 1 for windows in (splits.val, splits.test)]
    prices = datamodule.frame[datamodule.target].to_numpy(dtype=np.float64)
    val, test = {}, {}
    for name in names:
        quantiles = BASELINES[name](prices, baseline_fit_rows(datamodule), np.concatenate(anchors),
                                    datamodule.horizon, levels, datamodule.transform)
        val[name], test[name] = quantiles[:len(anchors[0])], quantiles[len(anchors[0]):]
    return val, test


def with_distributions(module: Forecaster, datamodule: StockDataModule, val: Forecasts, test: Forecasts,
                       outputs: dict[str, torch.Tensor],
                       calibrated: dict[str, Callable | None] | None = None) -> tuple[Forecasts, Forecasts]:
    """val and test with the network's quantiles and the baselines' added; `calibrated`: how each
    split's quantiles are calibrated, when not as calibrations() says (a panel's, pooled)."""
    levels = levels_of(module)
    calibrated = calibrated or calibrations(module, datamodule, val)
    val_baselines, test_baselines = baseline_quantiles(datamodule, levels)
    return tuple(
        dataclasses.replace(split, levels=levels, baselines=baselines, quantiles=network_quantiles(
            module, datamodule, outputs[name], split.last_known, calibrated[name]))
        for name, split, baselines in (("val", val, val_baselines), ("test", test, test_baselines)))


def distribution_report(val: Forecasts, test: Forecasts) -> dict[str, float]:
    """The interval metrics of the network and of each baseline on validation (`val_crps`,
    `garch_val_crps`, ...) and test (`test_crps`, `garch_crps`, ...), CRPS skills, Diebold-Mariano
    tests of the network's CRPS against each baseline's, and the objective a sweep minimizes:
    validation CRPS relative to climatology's."""
    report = {}
    for split, model_prefix, baseline_infix in ((val, "val_", "val_"), (test, "test_", "")):
        report |= {f"{model_prefix}{key}": value
                   for key, value in interval_metrics(split.actual, split.quantiles, split.levels).items()}
        for name, quantiles in split.baselines.items():
            report |= {f"{name}_{baseline_infix}{key}": value
                       for key, value in interval_metrics(split.actual, quantiles, split.levels).items()}
    report["crps_skill"] = skill(report["test_crps"], report["climatology_crps"])
    report["crps_skill_garch"] = skill(report["test_crps"], report["garch_crps"])
    model_losses = crps_per_window(test.actual, test.quantiles, test.levels)
    for name, quantiles in test.baselines.items():
        baseline_losses = crps_per_window(test.actual, quantiles, test.levels)
        statistic, pvalue = diebold_mariano_losses(model_losses, baseline_losses, test.actual.shape[1])
        report[f"dm_stat_crps_{name}"], report[f"dm_pvalue_crps_{name}"] = statistic, pvalue
    report["objective"] = report["val_crps"] / report["climatology_val_crps"]
    return report
