"""Forecast the trading sessions after a CSV's last date with a trained checkpoint: forecast.csv, with
the intervals of a checkpoint that forecasts a distribution."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from stockrnn.training.checkpoints import datamodule_for, load_checkpoint
from stockrnn.data.datamodule import PriceDataModule, refuse_unseen_series
from stockrnn.data.features import check_finite
from stockrnn.data.scaling import TRAINED_BOUNDS
from stockrnn.data.series import PriceSeries
from stockrnn.data.sessions import next_trading_days
from stockrnn.data.window_norm import normalize
from stockrnn.data.windows import revin_statistics
from stockrnn.evaluation.distributions import checkpoint_calibration, levels_of
from stockrnn.errors import StockrnnError
from stockrnn.models.distributions import has_quantiles
from stockrnn.models.forecaster import Forecaster
from stockrnn.models.combination import combine, series_weights
from stockrnn.training.forecast_tables import NetworkOutputs, checkpoint_combination, network_quantiles
from stockrnn.utils.command import command
from stockrnn.utils.entry import user_errors_exit

log = logging.getLogger(__name__)


@torch.no_grad()
def forecast(ckpt_path: str, data_path: str | None, calendar: str | None = None,
             series: list[str] | None = None) -> tuple[pd.DataFrame, str]:
    """The forecast table (date, step, forecast in price units; a panel's with a series column, one
    series after another) and the target's name. The checkpoint's scalers are used as stored: the CSV
    only supplies the last n_steps days. calendar: whose sessions the dates are; None keeps the
    checkpoint's; series: a panel's series to forecast, None for the run's own data.series (every
    series of the CSV when its run had none; a series the run dropped is left out)."""
    restored = load_checkpoint(ckpt_path)
    datamodule = datamodule_for(restored, {"path": data_path, "calendar": calendar, "series": series})
    if calendar is None and "calendar" not in restored.data_settings:
        # Every series stockrnn shipped then was a US exchange's: XNYS is right for those, not for all.
        log.warning("%s: written before data.calendar existed; its forecast dates are %s sessions: set "
                    "data.calendar to the series' exchange code, or weekdays, if it trades otherwise",
                    ckpt_path, datamodule.calendar)
    module = restored.module.eval()
    combination = checkpoint_combination(module)  # model.combination=persistence: weights per series and step
    raw = {name: frame for name, frame in datamodule.read_series().items() if not dropped_in_training(datamodule, name)}
    refuse_unseen_series(datamodule, [name for name in raw if datamodule.is_unseen(name)], module)
    tables = []
    for name, frame in raw.items():
        if datamodule.stored_state(name) is not None:
            part = datamodule.series_data(name)
        else:  # no embedding (refused above): scaled on its own training rows, or left out as training would
            part = datamodule.prepared(name, frame)
            if part is None:
                continue
        index = datamodule.index_of(name)
        weights = (None if combination is None else
                   series_weights(combination, None if datamodule.is_unseen(name) else index))
        table = forecast_series(module, part, frame, datamodule.calendar, torch.tensor([index]), weights)
        tables.append(table.assign(series=name)[["series", *table.columns]] if datamodule.is_panel else table)
    if not tables:
        raise StockrnnError(f"{datamodule.source}: none of its series can be forecast (see the warnings above)")
    return pd.concat(tables, ignore_index=True), datamodule.target


def dropped_in_training(datamodule: PriceDataModule, name: str) -> bool:
    """A series the checkpoint's run left out for too few rows is left out here too, said once."""
    if name in datamodule.dropped_in_training:
        log.warning("%s: series '%s' left out: its run dropped it for too few rows", datamodule.source, name)
        return True
    return False


def forecast_series(module: Forecaster, datamodule: PriceSeries, raw: pd.DataFrame, calendar: str | None,
                    series: torch.Tensor, combination: np.ndarray | None = None) -> pd.DataFrame:
    """One series' forecast table from its frame's last n_steps days, on the sessions of `calendar`
    (series: its index, its row of a series embedding; combination: its weights per step with
    persistence, the last known value, under model.combination=persistence)."""
    frame = datamodule.model_columns(raw)
    n_steps = datamodule.n_steps
    if len(frame) < n_steps:
        raise StockrnnError(f"{datamodule.source}: has {len(frame)} usable rows; the checkpoint's "
                            f"n_steps={n_steps} needs at least {n_steps}")
    check_finite(frame.iloc[-n_steps:], datamodule.features, datamodule.source)
    window = datamodule.scaled_inputs(frame.iloc[-n_steps:])[None]
    warn_if_far_outside_training(datamodule, window[0].numpy())
    window = normalize(window, datamodule.window_norm)  # as the training windows were (WindowDataset)
    last_known = frame[datamodule.target].to_numpy()[-1:]
    outputs = NetworkOutputs(module(window, series).double(), revin_norm(datamodule, frame))
    prices = datamodule.to_price(module.point(*outputs).numpy(), last_known)[0]
    if combination is not None:
        prices = combine(prices, last_known, combination)
    dates = next_trading_days(frame.index[-1], len(prices), calendar, datamodule.source)
    table = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "step": np.arange(1, len(prices) + 1),
                          "forecast": prices})
    if has_quantiles(module.kind):  # calibrated as the run's test days were
        quantiles = network_quantiles(module, datamodule, outputs, last_known, checkpoint_calibration(module))
        for k, level in enumerate(levels_of(module)):
            table[f"q{level:g}"] = quantiles[0, :, k]
    return table


def revin_norm(datamodule: PriceSeries, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor] | None:
    """data.window_norm=revin: the target statistics of the window after the frame's last day, from
    the prices in float32 as the run's windows read them (series.py); None without revin."""
    if datamodule.window_norm != "revin":
        return None
    prices = torch.from_numpy(frame[datamodule.target].to_numpy().astype(np.float32))
    return revin_statistics(prices, torch.tensor([len(prices)]), 0, datamodule.target_codec, datamodule.n_steps,
                            datamodule.horizon)


def warn_if_far_outside_training(datamodule: PriceSeries, scaled: np.ndarray) -> None:
    """A forecast from inputs unlike anything the network saw (another series, another price
    level) still runs, but says so: e.g. a Microsoft checkpoint asked about the S&P 500."""
    scaler = datamodule.feature_scaler
    outside = scaler.far_outside_training(scaled)
    if outside:
        low, high = TRAINED_BOUNDS[scaler.kind]
        columns = ", ".join(f"{datamodule.features[j]} (scaled {scaled[:, j].min():.3g} to "
                            f"{scaled[:, j].max():.3g})" for j in outside)
        log.warning("%s: the last %d days lie far outside the checkpoint's training data in %s; its %s "
                    "scaler maps the training rows to %s, and values beyond [%g, %g] are far outside: the "
                    "forecast extrapolates and may mean little", datamodule.source, len(scaled), columns,
                    scaler.kind, "[0, 1]" if scaler.kind == "minmax" else "mean 0, std 1", low, high)


def print_forecast(table: pd.DataFrame, target: str, output_dir: Path) -> None:
    """The forecast, with a distribution its central 50% and 90% intervals (every level is in
    forecast.csv; seven quantile columns would not fit a terminal's width)."""
    intervals = {"50%": ("q0.25", "q0.75"), "90%": ("q0.05", "q0.95")} if "q0.05" in table else {}
    rich_table = Table(title=f"Forecast of {target}")
    series = ["series"] if "series" in table else []  # a panel's
    for column in (*series, "date", "step", "forecast", *intervals):
        rich_table.add_column(column, justify="right", no_wrap=True)
    for _, row in table.iterrows():
        rich_table.add_row(*(str(row[name]) for name in series), row["date"], str(row["step"]), f"{row['forecast']:.4f}",
                           *(f"{row[low]:.2f} to {row[high]:.2f}" for low, high in intervals.values()))
    Console().print(rich_table)
    print(f"written to {output_dir / 'forecast.csv'}", flush=True)  # a path: unwrapped, for copy and paste


@command("predict")
def main(cfg: DictConfig) -> None:
    with user_errors_exit():
        output_dir = Path(cfg.paths.output_dir)
        series = cfg.data.get("series")
        table, target = forecast(cfg.ckpt_path, cfg.data.path, cfg.data.calendar,
                                 None if series is None else list(series))
        table.to_csv(output_dir / "forecast.csv", index=False, float_format="%.6f")
        print_forecast(table, target, output_dir)


if __name__ == "__main__":
    main()
