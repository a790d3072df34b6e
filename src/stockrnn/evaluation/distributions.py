"""A distribution run's intervals in price units (calibrated when asked), the climatology and GARCH
baselines' on the same targets, and their scores: CRPS, pinball, coverage, width, interval score."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stockrnn.models.calibration import calibrate
from stockrnn.evaluation.distribution_baselines import climatology_quantiles, garch_quantiles
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
