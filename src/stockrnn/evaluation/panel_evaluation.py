"""Evaluate a global forecaster on a panel: each series' forecasts in its own price units, pooled, with
the global ridge (one on every series' windows) and the local ridges (one per series) beside."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from stockrnn.evaluation.baselines import fit_linear_baseline
from stockrnn.evaluation.calibration import apply_cross_fitted, cross_fit_offsets
from stockrnn.data.panel import PanelDataModule
from stockrnn.evaluation.distributions import checkpoint_calibration, levels_of, with_distributions
from stockrnn.evaluation.evaluate import Evaluation, split_forecasts, split_report
from stockrnn.evaluation.forecasts import Forecasts, network_outputs
from stockrnn.models.distributions import has_quantiles
from stockrnn.models.forecaster import Forecaster
from stockrnn.evaluation.per_series import panel_metrics, per_series_table


def series_labels(name: str, n: int) -> np.ndarray:
    """`name` for each of n windows, every entry the one str: np.full makes a str object per entry
    (56 bytes each, 35 MB for a large panel's windows)."""
    labels = np.empty(n, dtype=object)
    labels.fill(name)
    return labels


def outputs_by_series(datamodule: PanelDataModule, split: str, outputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """A pooled split's network outputs cut into each series' (the pooled order is series by series)."""
    counts = [windows.count for windows in datamodule.windows_of(split).values()]
    return dict(zip(datamodule.series_names, outputs.split(counts), strict=True))


def panel_calibrations(module: Forecaster, datamodule: PanelDataModule,
                       val_outputs: dict[str, torch.Tensor]) -> dict[str, Callable | None] | None:
    """model.calibration=conformal on a panel: test with the checkpoint's shifts (fit on every
    series' validation windows pooled), validation cross-fitted the same way: each half of a series'
    windows with shifts fit on the other half of every series' windows. None without calibration."""
    test = checkpoint_calibration(module)
    if test is None:
        return None
    levels, quantiles, targets = levels_of(module), [], []
    for name, part in datamodule.parts.items():
        quantiles.append(module.kind.quantiles(val_outputs[name]).numpy())
        val = part.split_targets(part.splits.val)
        targets.append(part.target_codec.encode(val.actual, val.last_known))
    offsets = cross_fit_offsets(quantiles, targets, levels)
    return {"val": lambda scaled: apply_cross_fitted(scaled, offsets, levels), "test": test}


def evaluate_panel(module: Forecaster, datamodule: PanelDataModule) -> Evaluation:
    """The pooled metrics (the keys of a one-series run, over every series' targets), the panel's
    (skill_mean, series_beating_persistence, objective...) and per_series.csv's table."""
    global_linear = fit_linear_baseline(datamodule.pooled("train"), datamodule.pooled("val"))
    outputs = {split: outputs_by_series(datamodule, split, network_outputs(module, loader))
               for split, loader in (("val", datamodule.val_dataloader()), ("test", datamodule.test_dataloader()))}
    splits: dict[str, list[Forecasts]] = {"val": [], "test": []}
    calibrated = panel_calibrations(module, datamodule, outputs["val"]) if has_quantiles(module.kind) else None
    for name, part in datamodule.parts.items():
        local_linear = fit_linear_baseline(part.dataset(part.splits.train), part.dataset(part.splits.val))
        own = {}
        for split in splits:
            windows = getattr(part.splits, split)
            forecasts = split_forecasts(part, windows, outputs[split][name], module, global_linear)
            local = part.to_price(local_linear.predict(part.dataset(windows)), forecasts.last_known)
            own[split] = dataclasses.replace(forecasts, series=series_labels(name, len(local)), local_linear=local)
        if has_quantiles(module.kind):
            own["val"], own["test"] = with_distributions(module, part, own["val"], own["test"],
                                                         {split: outputs[split][name] for split in splits}, calibrated)
        for split in splits:
            splits[split].append(own[split])
    # Popped: each split's per-series copies go as soon as they are pooled.
    val, test = (Forecasts.concat(splits.pop(split)) for split in ("val", "test"))
    per_series = per_series_table(val, test)
    metrics = split_report(val, test) | {"linear_lags": global_linear.lags} | panel_metrics(per_series, test)
    return Evaluation(metrics, val, test, per_series)
