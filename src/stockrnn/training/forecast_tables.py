"""What a fitted forecaster hands to evaluation: each series' validation and test forecasts in its own
price units (the network's, the linear baselines', a distribution's quantiles and the distribution
baselines'), pooled into the forecast tables that every report reads (evaluation/). The one place where
the network, the data and the baselines meet; one series is a panel of one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from stockrnn.data.datamodule import PriceDataModule
from stockrnn.data.series import PriceSeries
from stockrnn.data.splits import WindowRange
from stockrnn.data.windows import as_stored, batch_parts
from stockrnn.errors import StockrnnError
from stockrnn.evaluation.baselines import LinearBaseline, fit_linear_baseline
from stockrnn.evaluation.distribution_baselines import CLIMATOLOGY_MIN_CHANGES, GARCH_MIN_CHANGES
from stockrnn.evaluation.distributions import BASELINES, checkpoint_calibration, levels_of
from stockrnn.evaluation.evaluate import Evaluation, evaluation_of
from stockrnn.evaluation.forecasts import Forecasts
from stockrnn.models.calibration import apply_cross_fitted, cross_fit_offsets
from stockrnn.models.combination import combine, series_weights
from stockrnn.models.distributions import has_quantiles
from stockrnn.models.forecaster import Forecaster

SPLITS = ("val", "test")


class NetworkOutputs(NamedTuple):
    """The network's raw outputs (scaled; a point or a distribution's parameters per step) for some
    windows, with data.window_norm=revin each window's target statistics (centre, spread), which
    Forecaster.point and .quantiles map them back with: module.point(*outputs)."""

    raw: torch.Tensor
    norm: tuple[torch.Tensor, torch.Tensor] | None = None

    def split(self, counts: list[int]) -> list[NetworkOutputs]:
        norms = zip(*(t.split(counts) for t in self.norm)) if self.norm is not None else [None] * len(counts)
        return [NetworkOutputs(raw, norm) for raw, norm in zip(self.raw.split(counts), norms, strict=True)]


@torch.no_grad()
def network_outputs(module: Forecaster, loader) -> NetworkOutputs:
    """The network's outputs for every window of `loader`, in its (time) order, in float64 on the CPU."""
    module.eval()
    outputs, norm, done = None, None, 0
    for batch in loader:
        x, _, _, series, batch_norm = batch_parts(batch)
        raw = module(x.to(module.device), None if series is None else series.to(module.device)).cpu()
        if outputs is None:
            outputs = torch.empty((len(loader.dataset), *raw.shape[1:]), dtype=torch.float64)
            if batch_norm is not None:
                norm = tuple(torch.empty((len(loader.dataset), *t.shape[1:]), dtype=torch.float64)
                             for t in batch_norm)
        # Filled in place, not a list of batches joined at the end: no small tensor of each batch
        # outlives it, pinning glibc's heap above the batch's freed LSTM states (10 MB for a panel's
        # 8,192 windows), so the next batch reuses them; a panel's evaluation grew 10 MB a batch.
        outputs[done:done + len(raw)] = raw
        for whole, part in zip(norm or (), batch_norm or ()):
            whole[done:done + len(raw)] = part
        done += len(raw)
    if outputs is None:
        raise ValueError("network_outputs: the loader has no windows")
    return NetworkOutputs(outputs[:done], None if norm is None else tuple(t[:done] for t in norm))


def network_quantiles(module: Forecaster, part: PriceSeries, outputs: NetworkOutputs,
                      last_known: np.ndarray, calibrated: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    """The network's quantiles (windows x horizon x levels) in price units, after `calibrated` (a
    function of the scaled quantiles) when given."""
    quantiles = module.quantiles(*outputs).numpy()
    if calibrated is not None:
        quantiles = calibrated(quantiles)
    return part.to_price(quantiles, last_known[:, None])


def baseline_fit_rows(part: PriceSeries) -> tuple[int, int]:
    """The rows the distribution baselines are fit on: the training rows before the first
    validation target, so that on validation, too, they forecast days they have not seen."""
    return part.splits.train_rows[0], part.splits.val.first


def check_baseline_rows(part: PriceSeries) -> None:
    """Before a fit: enough rows for both baselines, in the keys a user sets."""
    first, stop = baseline_fit_rows(part)
    needed = max(GARCH_MIN_CHANGES + 1, CLIMATOLOGY_MIN_CHANGES + part.horizon)
    if stop - first < needed:
        dates = part.frame.index
        raise StockrnnError(
            f"{part.source}: the distribution baselines (GARCH, climatology) are fit on the training rows "
            "before validation, "
            f"{dates[first].date()}..{dates[stop - 1].date()} ({stop - first} rows), and need at least {needed}: "
            "start data.train_start earlier or lower data.val_fraction")


def baseline_quantiles(part: PriceSeries, levels: tuple[float, ...],
                       names: tuple[str, ...] = tuple(BASELINES)) -> tuple[dict, dict]:
    """Each baseline's quantiles for the validation and the test windows (two dicts by name), each
    fit once for both (on baseline_fit_rows)."""
    splits = part.splits
    anchors = [np.arange(windows.first, windows.stop) - 1 for windows in (splits.val, splits.test)]
    prices = part.frame[part.target].to_numpy(dtype=np.float64)
    val, test = {}, {}
    for name in names:
        quantiles = BASELINES[name](prices, baseline_fit_rows(part), np.concatenate(anchors),
                                    part.horizon, levels, part.transform)
        val[name], test[name] = quantiles[:len(anchors[0])], quantiles[len(anchors[0]):]
    return val, test


def with_distributions(module: Forecaster, part: PriceSeries, val: Forecasts, test: Forecasts,
                       outputs: dict[str, NetworkOutputs],
                       calibrated: dict[str, Callable | None]) -> tuple[Forecasts, Forecasts]:
    """val and test with the network's quantiles and the baselines' added; `calibrated`: how each
    split's quantiles are calibrated (pooled_calibrations)."""
    levels = levels_of(module)
    val_baselines, test_baselines = baseline_quantiles(part, levels)
    return tuple(
        dataclasses.replace(split, levels=levels, baselines=baselines, quantiles=network_quantiles(
            module, part, outputs[name], split.last_known, calibrated[name]))
        for name, split, baselines in (("val", val, val_baselines), ("test", test, test_baselines)))


def split_forecasts(part: PriceSeries, windows: WindowRange, outputs: NetworkOutputs,
                    module: Forecaster, linear: LinearBaseline) -> Forecasts:
    """One series' forecasts of one split's windows, in its price units."""
    targets = part.split_targets(windows)

    def price(encoded: np.ndarray) -> np.ndarray:
        return part.to_price(encoded, targets.last_known)

    return Forecasts(targets.dates, targets.actual, price(module.point(*outputs).numpy()),
                     price(linear.predict(as_stored(part.dataset(windows)))), targets.last_known)


def checkpoint_combination(module: Forecaster) -> np.ndarray | None:
    """model.combination=persistence: the weights (series x horizon) the module keeps for its network
    weights (fit on the validation windows, see Forecaster.on_validation_epoch_end); None without."""
    if module.hparams.get("combination", "none") != "persistence":
        return None
    if module.combination_weights is None:
        raise StockrnnError("model.combination=persistence, but the module holds no combination weights: they "
                            "are fit at the end of each validation epoch (trainer.limit_val_batches must not be 0)")
    return module.combination_weights


def combined(forecasts: Forecasts, weights: np.ndarray) -> Forecasts:
    """The network's point forecasts combined with persistence (weights: one per step), its own kept
    beside them."""
    return dataclasses.replace(forecasts, network=forecasts.predicted,
                               predicted=combine(forecasts.predicted, forecasts.persistence, weights))


def combination_report(weights: dict[str, np.ndarray]) -> dict[str, float]:
    """metrics.json's `combination_weight`: the weight, the mean over series and steps; with
    data.horizon above 1 also `combination_weight_step<k>`, step k's mean over series."""
    stacked = np.stack(list(weights.values()))
    report = {"combination_weight": float(stacked.mean())}
    if stacked.shape[1] > 1:
        report |= {f"combination_weight_step{k + 1}": float(w) for k, w in enumerate(stacked.mean(axis=0))}
    return report


def series_labels(name: str, n: int) -> np.ndarray:
    """`name` for each of n windows, every entry the one str: np.full makes a str object per entry
    (56 bytes each, 35 MB for a large panel's windows)."""
    labels = np.empty(n, dtype=object)
    labels.fill(name)
    return labels


def outputs_by_series(datamodule: PriceDataModule, split: str, outputs: NetworkOutputs) -> dict[str, NetworkOutputs]:
    """A pooled split's network outputs cut into each series' (the pooled order is series by series)."""
    counts = [windows.count for windows in datamodule.windows_of(split).values()]
    return dict(zip(datamodule.series_names, outputs.split(counts), strict=True))


def pooled_calibrations(module: Forecaster, datamodule: PriceDataModule,
                        val_outputs: dict[str, NetworkOutputs]) -> dict[str, Callable | None]:
    """model.calibration=conformal: test with the checkpoint's shifts (fit on every series'
    validation windows pooled), validation cross-fitted the same way: each half of a series' windows
    with shifts fit on the other half of every series' windows (no window scored with shifts fit on
    itself). Neither without calibration."""
    test = checkpoint_calibration(module)
    if test is None:
        return {"val": None, "test": None}
    levels, quantiles, targets = levels_of(module), [], []
    for name, part in datamodule.parts.items():
        quantiles.append(module.quantiles(*val_outputs[name]).numpy())
        val = part.split_targets(part.splits.val)
        targets.append(part.target_codec.encode(val.actual, val.last_known))
    offsets = cross_fit_offsets(quantiles, targets, levels)
    return {"val": lambda scaled: apply_cross_fitted(scaled, offsets, levels), "test": test}


def with_local_linear(name: str, part: PriceSeries, own: dict[str, Forecasts]) -> dict[str, Forecasts]:
    """A panel's series: its name on every window, and its own ridge's forecasts beside the global one."""
    local_linear = fit_linear_baseline(as_stored(part.dataset(part.splits.train)), as_stored(part.dataset(part.splits.val)))
    labelled = {}
    for split, forecasts in own.items():
        local = part.to_price(local_linear.predict(as_stored(part.dataset(getattr(part.splits, split)))), forecasts.last_known)
        labelled[split] = dataclasses.replace(forecasts, series=series_labels(name, len(local)), local_linear=local)
    return labelled


def evaluate(module: Forecaster, datamodule: PriceDataModule) -> Evaluation:
    """val_rmse, the test report and the significance tests for the module's current weights, over
    every series' targets pooled; with a distribution also its quantiles, the distribution baselines'
    and their scores. A panel adds its figures over series (skill_mean, series_beating_persistence,
    objective...) and per_series.csv's table. With model.combination=persistence every report reads
    the combined point forecasts (the network's own kept beside them) and adds the weights."""
    # The ridges read the windows as stored, never per-window normalized (data.window_norm): a
    # normalized window drops the price level, and a baseline without it would flatter the network.
    global_linear = fit_linear_baseline(as_stored(datamodule.pooled("train")), as_stored(datamodule.pooled("val")))
    loaders = {"val": datamodule.val_dataloader(), "test": datamodule.test_dataloader()}
    outputs = {split: outputs_by_series(datamodule, split, network_outputs(module, loaders[split])) for split in SPLITS}
    distribution = has_quantiles(module.kind)
    calibrated = pooled_calibrations(module, datamodule, outputs["val"]) if distribution else None
    combination, used_weights = checkpoint_combination(module), {}
    pooled: dict[str, list[Forecasts]] = {split: [] for split in SPLITS}
    for name, part in datamodule.parts.items():
        own = {split: split_forecasts(part, getattr(part.splits, split), outputs[split][name], module, global_linear)
               for split in SPLITS}
        if combination is not None:  # before anything reads the network's forecasts
            used_weights[name] = series_weights(
                combination, None if datamodule.is_unseen(name) else datamodule.index_of(name))
            own = {split: combined(forecasts, used_weights[name]) for split, forecasts in own.items()}
        if datamodule.is_panel:
            own = with_local_linear(name, part, own)
        if distribution:
            own["val"], own["test"] = with_distributions(module, part, own["val"], own["test"],
                                                         {split: outputs[split][name] for split in SPLITS}, calibrated)
        for split in SPLITS:
            pooled[split].append(own[split])
    # Popped: each split's per-series copies go as soon as they are pooled.
    val, test = (Forecasts.concat(pooled.pop(split)) for split in SPLITS)
    evaluation = evaluation_of(val, test, global_linear.lags, datamodule.is_panel)
    if used_weights:
        evaluation.metrics |= combination_report(used_weights)
        if evaluation.per_series is not None:
            evaluation.per_series["combination_weight"] = [float(used_weights[name].mean())
                                                           for name in evaluation.per_series["series"]]
    return evaluation
