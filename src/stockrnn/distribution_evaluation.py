"""A distribution run's intervals in price units (calibrated when asked), the climatology and GARCH
baselines' on the same targets, and their scores: CRPS, pinball, coverage, width, interval score."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from stockrnn.calibration import calibrate, conformal_offsets
from stockrnn.data.datamodule import StockDataModule
from stockrnn.distribution_baselines import climatology_quantiles, garch_quantiles
from stockrnn.forecasts import Forecasts, network_outputs
from stockrnn.interval_scores import crps_per_window, interval_metrics
from stockrnn.metrics import skill
from stockrnn.models.forecaster import Forecaster
from stockrnn.significance import diebold_mariano_losses

# The distribution baselines, each fit on the training rows only (see distribution_baselines.py).
BASELINES = {"climatology": climatology_quantiles, "garch": garch_quantiles}


def levels_of(module: Forecaster) -> tuple[float, ...]:
    return tuple(float(level) for level in module.hparams.quantiles)


def calibration_offsets(module: Forecaster, datamodule: StockDataModule,
                        val_outputs: torch.Tensor | None = None) -> np.ndarray | None:
    """model.calibration=conformal: the shifts fit on the validation windows (else None). eval and
    predict call this too, so a checkpoint's intervals are calibrated the same way everywhere."""
    if module.hparams.get("calibration", "none") != "conformal":
        return None
    if val_outputs is None:
        val_outputs = network_outputs(module, datamodule.val_dataloader())
    targets = datamodule.split_targets(datamodule.splits.val)
    scaled_targets = datamodule.target_codec.encode(targets.actual, targets.last_known)
    return conformal_offsets(module.kind.quantiles(val_outputs).numpy(), scaled_targets, levels_of(module))


def price_quantiles(module: Forecaster, datamodule: StockDataModule, outputs: torch.Tensor,
                    last_known: np.ndarray, offsets: np.ndarray | None) -> np.ndarray:
    """The network's quantiles (windows x horizon x levels) in price units, calibrated if offsets."""
    quantiles = module.kind.quantiles(outputs).numpy()
    if offsets is not None:
        quantiles = calibrate(quantiles, offsets, levels_of(module))
    return datamodule.to_price(quantiles, last_known[:, None])


def baseline_quantiles(datamodule: StockDataModule, levels: tuple[float, ...],
                       forecasts: list[Forecasts]) -> list[dict[str, np.ndarray]]:
    """Each baseline's quantiles for each split's windows, each fit once for all on the rows the
    network's weights were fit on: the training rows before the first validation target, so that
    on validation, too, the baselines forecast days they have not seen (as the network does)."""
    splits = datamodule.splits
    fit_rows = (splits.train_rows[0], splits.val.first)
    first_rows = [splits.val.first, splits.test.first]
    anchors = np.concatenate([first + np.arange(len(f.actual)) - 1 for first, f in zip(first_rows, forecasts)])
    prices = datamodule.frame[datamodule.target].to_numpy(dtype=np.float64)
    cut = len(forecasts[0].actual)
    per_split = [{}, {}]
    for name, baseline in BASELINES.items():
        quantiles = baseline(prices, fit_rows, anchors, datamodule.horizon, levels, datamodule.transform)
        per_split[0][name], per_split[1][name] = quantiles[:cut], quantiles[cut:]
    return per_split


def with_distributions(module: Forecaster, datamodule: StockDataModule, val: Forecasts, test: Forecasts,
                       outputs: dict[str, torch.Tensor]) -> tuple[Forecasts, Forecasts]:
    """val and test with the network's quantiles and the baselines' added."""
    levels = levels_of(module)
    offsets = calibration_offsets(module, datamodule, outputs["val"])
    val_baselines, test_baselines = baseline_quantiles(datamodule, levels, [val, test])
    return tuple(
        dataclasses.replace(split, levels=levels, baselines=baselines,
                            quantiles=price_quantiles(module, datamodule, outputs[name], split.last_known, offsets))
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
        statistic, pvalue = diebold_mariano_losses(model_losses, crps_per_window(test.actual, quantiles, test.levels),
                                                   test.actual.shape[1])
        report[f"dm_stat_crps_{name}"], report[f"dm_pvalue_crps_{name}"] = statistic, pvalue
    report["objective"] = report["val_crps"] / report["climatology_val_crps"]
    return report
