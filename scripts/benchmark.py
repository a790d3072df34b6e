"""Benchmarks, in sections of rows that --skip leaves out by the section's name:

    speed      the project's fit against a hand-written PyTorch loop (speed/<setting>/<model>)
    heads      a distribution head's epoch against the point head's (head/<setting>/<head>)
    windowing  splitting, scaling and windowing a 10-million-point series (windowing)
    panel      one global model on many synthetic series read from a long CSV (panel)
    linear     the linear baseline's cost on every run (linear/n_steps=N)
    distribution  the GARCH and climatology baselines' cost (distribution_baselines)
    backtest   a backtest's wall time over its folds' fits (backtest)
    busy       the default run idle and on busy cores (busy/default_run)
    sweep      Hydra's basic launcher against joblib (sweep_joblib_vs_basic, from sweep_benchmark.py)

    python scripts/benchmark.py --out FILE [--epochs N] [--accelerator cpu|gpu] [--skip ROW ...]

Writes a JSON list of rows (each with a `name`) and prints them as a table; one row alone: --skip
every other. Speed rows compare median seconds per epoch (training plus validation) measured in
this one process, so only their ratio means anything on a shared, noisy machine.

One file past the usual length on purpose: one entry point, and rows that share its helpers (a
composed run, the data a row reads, PeakMemory); the windowing and panel rows measure in a fresh
process of this same script (--windowing-child, --panel-child).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

REPO_ROOT = Path(__file__).resolve().parents[1]
MASTERCARD_CSV = REPO_ROOT.parent / "shared" / "data" / "Mastercard_stock_history.csv"
MODELS = ("rnn", "lstm", "gru", "birnn")
# The tutorial's setting and a large one where the network's arithmetic dominates.
SETTINGS = {
    "tutorial": {"n_steps": 3, "batch_size": 10, "hidden_size": 32, "num_layers": 1},
    "large": {"n_steps": 64, "batch_size": 256, "hidden_size": 128, "num_layers": 2},
}
TARGET_RATIO = {"tutorial": 1.15, "large": 1.1}
# Epochs per fit of the speed rows unless --epochs says otherwise: the seed setting's 30 (a fit's
# fixed costs spread as in a real run), fewer where an epoch takes a second.
SPEED_EPOCHS = {"tutorial": 30, "large": 8}


# Shared by the rows: a composed `train` config; then the speed and heads rows' data and fits.
def compose_run(overrides: list[str], output_dir: str):
    from hydra import compose, initialize_config_dir

    from stockrnn.utils.config import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={output_dir}", "paths.run_name=", *overrides])


def data_overrides() -> tuple[list[str], str]:
    if MASTERCARD_CSV.is_file():
        return ["experiment=seed_mastercard", f"data.path={MASTERCARD_CSV}"], "mastercard"
    return ["data.n_steps=3"], "embedded msft"  # the tutorial's CSV is absent: the default series


@contextmanager
def timed_fits():
    """Wall seconds of every Trainer.fit in the block: a whole fit (sanity check, every epoch's
    checkpoints, logging and callbacks), which the per-epoch FitTimer leaves partly out."""
    import lightning as L

    seconds, fit = [], L.Trainer.fit

    def timed(trainer, *args, **kwargs):
        started = time.perf_counter()
        try:
            return fit(trainer, *args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - started)

    L.Trainer.fit = timed
    try:
        yield seconds
    finally:
        L.Trainer.fit = fit


def project_fit(model: str, setting: dict, epochs: int, accelerator: str, extra: tuple[str, ...] = ()):
    """A real `stockrnn.train` run with its default callbacks, progress bar and TensorBoard;
    objects["fit_seconds"] is its Trainer.fit's wall time."""
    from stockrnn.train import train

    data, _ = data_overrides()
    overrides = data + [*extra,
        f"model={model}", f"data.n_steps={setting['n_steps']}", f"data.batch_size={setting['batch_size']}",
        f"model.hidden_size={setting['hidden_size']}", f"model.num_layers={setting['num_layers']}",
        f"trainer.max_epochs={epochs}", f"trainer.accelerator={accelerator}",
        "callbacks.early_stopping.patience=100000",  # keep the callback, never stop early
        "torch_threads=1",  # the measured setting, the plain loop's too
    ]
    with tempfile.TemporaryDirectory() as output_dir, timed_fits() as seconds:
        _, objects = train(compose_run(overrides, output_dir))
    return objects | {"fit_seconds": sum(seconds)}


def plain_loop(datamodule, hparams: dict, epochs: int, device: torch.device) -> list[float]:
    """The tutorial's loop: TensorDataset + DataLoader, Adam, MSE, validation with .item()."""
    from stockrnn.models.network import RecurrentNetwork

    (series,) = datamodule.parts.values()

    def tensors(window_range):
        x, y, _ = series.dataset(window_range).all_windows()
        return x.contiguous(), y.contiguous()

    train_loader = DataLoader(TensorDataset(*tensors(series.splits.train)),
                              batch_size=datamodule.batch_size, shuffle=True)
    val_loader = DataLoader(TensorDataset(*tensors(series.splits.val)), batch_size=datamodule.batch_size)
    network = RecurrentNetwork(**{k: hparams[k] for k in (
        "n_features", "horizon", "cell", "hidden_size", "num_layers", "dropout", "bidirectional",
        "nonlinearity")}).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        network.train()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = loss_fn(network(x), y)
            loss.backward()
            optimizer.step()
        network.eval()
        val_loss = 0.0
        with torch.no_grad():
            for x, y in val_loader:
                val_loss += loss_fn(network(x.to(device)), y.to(device)).item()
        seconds.append(time.perf_counter() - started)
    return seconds


def speed_rows(epochs: int | None, rounds: int, accelerator: str, settings=tuple(SETTINGS),
               models=MODELS) -> list[dict]:
    """Project fit and plain loop take turns, `rounds` times each, so a slow spell of a shared
    machine falls on both. `ratio`: medians over every epoch of every round (FitTimer's epoch:
    training and validation, up to the callbacks' on_train_epoch_end). `fit_ratio`: whole fits,
    each round's Trainer.fit wall time per epoch (checkpoints, epoch-end logging, early stopping
    and the sanity check included) over the mean epoch of the plain loop that follows it; the
    median over rounds (`fit_ratios` lists them), as one slow spell can double a round's."""
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    _, data_name = data_overrides()
    rows = []
    for setting_name in settings:
        setting = SETTINGS[setting_name]
        fit_epochs = epochs or SPEED_EPOCHS[setting_name]
        for model in models:
            project, plain, fit_s, fit_ratios = [], [], [], []
            for _ in range(rounds):
                objects = project_fit(model, setting, fit_epochs, accelerator)
                project += objects["fit_timer"].epoch_seconds
                plain_seconds = plain_loop(objects["datamodule"], dict(objects["model"].hparams), fit_epochs, device)
                plain += plain_seconds
                fit_s.append(objects["fit_seconds"] / fit_epochs)
                fit_ratios.append(round(fit_s[-1] / statistics.mean(plain_seconds), 3))
            project_s, plain_s = statistics.median(project), statistics.median(plain)
            rows.append({"name": f"speed/{setting_name}/{model}", "data": data_name,
                         "device": accelerator, **setting, "epochs": fit_epochs * rounds,
                         "project_s_per_epoch": round(project_s, 4), "plain_s_per_epoch": round(plain_s, 4),
                         "ratio": round(project_s / plain_s, 3),
                         "fit_s_per_epoch": round(statistics.median(fit_s), 4),
                         "plain_mean_s_per_epoch": round(statistics.mean(plain), 4),
                         "fit_ratio": statistics.median(fit_ratios), "fit_ratios": fit_ratios,
                         "target_ratio": TARGET_RATIO[setting_name]})
            print(f"  {rows[-1]['name']}: ratio {rows[-1]['ratio']}, whole fits {rows[-1]['fit_ratio']}",
                  file=sys.stderr)
    return rows


def head_rows(epochs: int, rounds: int, accelerator: str, settings=tuple(SETTINGS),
              heads=("quantile", "normal")) -> list[dict]:
    """A distribution head's epoch against the point head's, LSTM, alternating fits as speed_rows
    does: the wider head and its loss (pinball over 7 levels, or Gaussian likelihood) and the
    per-epoch validation CRPS. Target: within 1.1x."""
    _, data_name = data_overrides()
    rows = []
    for setting_name in settings:
        setting = SETTINGS[setting_name]
        for head in heads:
            seconds = {"none": [], head: []}
            for _ in range(rounds):
                for distribution in seconds:
                    objects = project_fit("lstm", setting, epochs, accelerator, (f"model.distribution={distribution}",))
                    seconds[distribution] += objects["fit_timer"].epoch_seconds
            point_s, head_s = statistics.median(seconds["none"]), statistics.median(seconds[head])
            rows.append({"name": f"head/{setting_name}/{head}", "data": data_name, "device": accelerator,
                         **setting, "epochs": epochs * rounds, "point_s_per_epoch": round(point_s, 4),
                         "head_s_per_epoch": round(head_s, 4), "ratio": round(head_s / point_s, 3),
                         "target_ratio": 1.1})
            print(f"  {rows[-1]['name']}: ratio {rows[-1]['ratio']}", file=sys.stderr)
    return rows


# windowing (and panel): peak memory in a fresh process of this script.
def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakMemory:
    """Resident memory sampled every millisecond by a thread from start() on: the high-water mark
    above what the process held when this was made (getrusage's maxrss counts imports and all)."""

    def __init__(self):
        self.baseline = self.peak = resident_mb()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> PeakMemory:
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.is_set():
            self.peak = max(self.peak, resident_mb())
            time.sleep(0.001)

    def above_baseline(self) -> float:
        """Megabytes of the peak so far above the baseline."""
        self.peak = max(self.peak, resident_mb())
        return self.peak - self.baseline

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.above_baseline()


def windowing_child(points: int, n_steps: int) -> dict:
    """Run in a fresh process: split, scale and window a `points`-long series; peak memory above
    what the process held before the series existed."""
    from stockrnn.data.datamodule import PriceDataModule

    memory = PeakMemory()
    # One row per minute: 10 million trading days would pass pandas' last representable date.
    dates = pd.date_range("2000-01-03", periods=points, freq="min", name="date")
    values = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.01, points))
    frame = pd.DataFrame({"High": values}, index=dates)
    series_mb = (frame.memory_usage(index=True, deep=True).sum()) / 2**20
    # Train up to the day 70% of the rows in, test on every day after it (date bounds are days).
    day = lambda stamp: stamp.strftime("%Y-%m-%d")  # noqa: E731
    train_end = dates[int(0.7 * points)]
    datamodule = PriceDataModule(features=["High"], target="High", path="(benchmark)",
                                 train_start=day(dates[0]), train_end=day(train_end),
                                 test_start=day(train_end + pd.Timedelta(days=1)), test_end=day(dates[-1]),
                                 n_steps=n_steps, batch_size=256)
    memory.start()
    started = time.perf_counter()
    datamodule.prepare_series({"benchmark": frame})
    loaders = [datamodule.train_dataloader(), datamodule.val_dataloader(), datamodule.test_dataloader()]
    train_minibatches, val_batch, test_batch = [next(iter(loader)) for loader in loaders]
    seconds = time.perf_counter() - started
    peak_mb = memory.stop()
    # The windows are usable: each batch reads n_steps days.
    assert all(x.shape[1] == n_steps for x in (train_minibatches[0][0], val_batch[0], test_batch[0]))
    counts = [len(loader.dataset) for loader in loaders]
    return {"name": "windowing", "points": points, "n_steps": n_steps, "windows": sum(counts),
            "seconds": round(seconds, 3), "peak_mb": round(peak_mb, 1),
            "series_mb": round(series_mb, 1), "peak_over_series": round(peak_mb / series_mb, 2),
            "targets": "seconds < 2, peak_over_series < 3"}


def windowing_row(points: int, n_steps: int) -> dict:
    """In a subprocess, so earlier benchmarks' memory does not blur the peak."""
    result = subprocess.run([sys.executable, __file__, "--windowing-child", str(points), str(n_steps)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


# panel: one global model on many synthetic series read from a long CSV (series, Date, Open, High,
# Low, Close, Volume), as a user runs it; the time to read and window, to train one epoch and to
# evaluate, and the memory it takes against the series' own size.
PANEL_FIRST_YEAR = 2000
PANEL_COLUMNS = ["Open", "High", "Low", "Close", "Volume"]
# The brief's small model: what a first global run over many stocks would try.
PANEL_RUN = ["model=lstm", "model.hidden_size=16", "data.batch_size=512", "data.n_steps=20",
             "data.features=[Open,High,Low,Close]", "data.target=High", "trainer.accelerator=cpu",
             "trainer.max_epochs=1", "torch_threads=1"]


def write_synthetic_panel(path: Path, n_series: int, years: int, seed: int = 0) -> int:
    """Geometric random walks, one per series, on every business day of `years` whole years,
    with Open/High/Low around the Close and a Volume; written as one long CSV. Returns its rows."""
    last_year = PANEL_FIRST_YEAR + years - 1
    dates = pd.bdate_range(f"{PANEL_FIRST_YEAR}-01-01", f"{last_year}-12-31").strftime("%Y-%m-%d")
    rng = np.random.default_rng(seed)
    shape = (n_series, len(dates))
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, shape), axis=1))
    open_ = close * np.exp(rng.normal(0, 0.005, shape))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, shape)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, shape)))
    frame = pd.DataFrame({
        "series": np.repeat([f"S{k:04d}" for k in range(n_series)], len(dates)),
        "Date": np.tile(dates, n_series),
        "Open": open_.ravel(), "High": high.ravel(), "Low": low.ravel(), "Close": close.ravel(),
        "Volume": rng.integers(10_000, 1_000_000, shape).ravel(),
    })
    frame.to_csv(path, index=False, float_format="%.4f")
    return len(frame)


def panel_overrides(csv: Path, years: int) -> list[str]:
    """The panel read from the long CSV; the last year tested, the ones before trained on."""
    last_year = PANEL_FIRST_YEAR + years - 1
    return [f"data.path={csv}", "data.series_column=series", f"data.train_start={PANEL_FIRST_YEAR}",
            f"data.train_end={last_year - 1}", f"data.test_start={last_year}", f"data.test_end={last_year}",
            *PANEL_RUN]


def panel_child(csv: Path, years: int) -> dict:
    """Run in a fresh process: a real train(cfg) (setup, one epoch, evaluation, run files), with
    its data setup, fit and evaluation timed where train calls them. Memory: the high-water mark
    above what the process held after its imports, by the end of each of them and of the run."""
    import lightning as L

    import stockrnn.train as train_module
    from stockrnn.data.datamodule import PriceDataModule

    memory = PeakMemory().start()
    seconds, peaks = {}, {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            result = function(*args, **kwargs)
            if name not in seconds:  # Lightning calls setup again; that call finds the data read
                seconds[name], peaks[name] = time.perf_counter() - started, memory.above_baseline()
            return result
        return wrapper

    PriceDataModule.setup = timed("setup", PriceDataModule.setup)
    L.Trainer.fit = timed("fit", L.Trainer.fit)
    train_module.evaluate = timed("evaluate", train_module.evaluate)
    with tempfile.TemporaryDirectory() as output_dir:
        started = time.perf_counter()
        metrics, objects = train_module.train(compose_run(panel_overrides(csv, years), output_dir))
        run_seconds = time.perf_counter() - started
    peak_mb = memory.stop()
    datamodule = objects["datamodule"]
    windows = sum(part.count for split in ("train", "val", "test")
                  for part in datamodule.windows_of(split).values())
    return {"n_series": datamodule.n_series, "windows": windows, "setup_seconds": seconds["setup"],
            "epoch_seconds": metrics["train_seconds"], "evaluate_seconds": seconds["evaluate"],
            "fit_seconds": seconds["fit"], "run_seconds": run_seconds, "setup_peak_mb": peaks["setup"],
            "fit_peak_mb": peaks["fit"], "evaluate_peak_mb": peaks["evaluate"], "peak_mb": peak_mb,
            "test_rmse": metrics["test_rmse"]}


def panel_row(n_series: int = 500, years: int = 20) -> dict:
    """Writes the CSV here, then measures the run in a subprocess, so that neither the CSV's
    making nor earlier rows blur the peak."""
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "panel.csv"
        started = time.perf_counter()
        rows = write_synthetic_panel(csv, n_series, years)
        write_seconds = time.perf_counter() - started
        csv_mb = csv.stat().st_size / 2**20
        result = subprocess.run([sys.executable, __file__, "--panel-child", str(csv), str(years)],
                                check=False, capture_output=True, text=True, cwd=REPO_ROOT)
        if result.returncode != 0:
            raise RuntimeError(f"the panel run failed:\n{result.stderr[-3000:]}")
        child = json.loads(result.stdout.strip().splitlines()[-1])
    series_mb = rows * len(PANEL_COLUMNS) * 8 / 2**20  # the numbers as float64, dates aside
    return {"name": "panel", "series": n_series, "years": years, "rows": rows,
            "columns": len(PANEL_COLUMNS), "series_read": child["n_series"], "windows": child["windows"],
            "csv_mb": round(csv_mb, 1), "series_mb": round(series_mb, 1),
            "write_csv_seconds": round(write_seconds, 2),
            **{key: round(child[key], 2) for key in (
                "setup_seconds", "epoch_seconds", "fit_seconds", "evaluate_seconds", "run_seconds",
                "setup_peak_mb", "fit_peak_mb", "evaluate_peak_mb", "peak_mb")},
            "peak_over_series": round(child["peak_mb"] / series_mb, 2),
            "peak_over_csv": round(child["peak_mb"] / csv_mb, 2),
            "test_rmse": round(child["test_rmse"], 4), "target": "peak_over_series < 3"}


# linear and distribution: what the baselines add to every run.
def linear_row(n_steps: int, repeats: int = 5) -> dict:
    """What the linear baseline adds to every run: its fit (every ridge strength) and forecasts,
    on mastercard_best's inputs; the issue's target is well under a second."""
    from hydra.utils import instantiate

    from stockrnn.evaluation.baselines import fit_linear_baseline

    if MASTERCARD_CSV.is_file():
        data, series = [f"data.path={MASTERCARD_CSV}"], "mastercard"
    else:
        data, series = ["data=default"], "embedded msft"
    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose_run(["experiment=mastercard_best", *data, f"data.n_steps={n_steps}"], output_dir)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    (series_data,) = datamodule.parts.values()
    splits = series_data.splits
    seconds = []
    for _ in range(repeats):  # what evaluate does for the baseline: fit, forecast validation and test
        start = time.perf_counter()
        linear = fit_linear_baseline(series_data.dataset(splits.train), series_data.dataset(splits.val))
        for windows in (splits.val, splits.test):
            series_data.to_price(linear.predict(series_data.dataset(windows)),
                                 series_data.split_targets(windows).last_known)
        seconds.append(time.perf_counter() - start)
    return {"name": f"linear/n_steps={n_steps}", "series": series, "n_steps": n_steps,
            "features": datamodule.n_features,
            "windows": splits.train.count + splits.val.count + splits.test.count,
            "seconds": round(statistics.median(seconds), 4), "target_seconds": 1.0}


def distribution_baselines_row(repeats: int = 5) -> dict:
    """What the two distribution baselines add to a run with a distribution: GARCH(1,1)-t fit on
    the training rows before validation plus its filter and quantiles for the validation and test windows, and
    climatology's quantiles for the same windows; mastercard_best's log returns of High (train
    2016-2020, test 2021). The issue's target: GARCH under a second."""
    from hydra.utils import instantiate

    from stockrnn.training.forecast_tables import baseline_fit_rows, baseline_quantiles
    from stockrnn.evaluation.interval_scores import LEVELS

    if MASTERCARD_CSV.is_file():
        data, series = [f"data.path={MASTERCARD_CSV}"], "mastercard"
    else:  # the embedded default: MSFT, train 2012-2016, test 2017
        data, series = ["data=default"], "embedded msft"
    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose_run(["experiment=mastercard_best", *data], output_dir)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    (series_data,) = datamodule.parts.values()
    splits = series_data.splits
    seconds = {}
    for name in ("garch", "climatology"):  # as a run calls them: fit, filter, quantiles of both splits
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            baseline_quantiles(series_data, LEVELS, (name,))
            times.append(time.perf_counter() - start)
        seconds[name] = round(statistics.median(times), 4)
    fit_first, fit_stop = baseline_fit_rows(series_data)
    return {"name": "distribution_baselines", "series": series, "transform": datamodule.transform,
            "train_changes": fit_stop - fit_first - 1, "windows": splits.val.count + splits.test.count,
            "levels": len(LEVELS), "garch_seconds": seconds["garch"],
            "climatology_seconds": seconds["climatology"], "target_garch_seconds": 1.0}


# backtest and busy: whole runs as a user starts them.
def backtest_row(folds: int = 5) -> dict:
    """A 5-fold backtest as a user runs it (`python -m stockrnn.backtest`, one process, imports
    and set-up paid once): its wall time against the sum of its folds' fit seconds."""
    if MASTERCARD_CSV.is_file():  # mastercard_best on 2017-2021, as on the results page
        data, series = [f"data.path={MASTERCARD_CSV}", "data.train_start=2012"], "mastercard"
    else:
        data, series = ["data=default", "data.train_start=2008"], "embedded msft"
    with tempfile.TemporaryDirectory() as output_dir:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stockrnn.backtest", "experiment=mastercard_best", *data,
                        f"backtest.folds={folds}", "torch_threads=1", f"hydra.run.dir={output_dir}/run"],
                       cwd=REPO_ROOT, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        metrics = json.loads((Path(output_dir) / "run" / "metrics.json").read_text())
    return {"name": "backtest", "series": series, "folds": folds, "wall_seconds": round(wall, 2),
            "fit_seconds": round(metrics["train_seconds"], 2),
            "ratio": round(wall / metrics["train_seconds"], 3), "target_ratio": 1.3}


def spin() -> None:
    while True:
        pass


def default_run_fit_seconds(epochs: int, overrides: list[str]) -> float:
    """`make train`'s run (embedded MSFT, LSTM) for `epochs` epochs: seconds of fitting only."""
    from stockrnn.train import train

    with tempfile.TemporaryDirectory() as output_dir:
        metrics, _ = train(compose_run([f"trainer.max_epochs={epochs}",
                                        "callbacks.early_stopping.patience=100000", *overrides], output_dir))
    return metrics["train_seconds"]


def busy_row(epochs: int) -> dict:
    """The default run idle, then with a busy-loop process on every core it may use, each time
    with its default torch threads."""
    from stockrnn.utils.threads import available_cores

    cores = available_cores()
    idle_s = default_run_fit_seconds(epochs, [])
    spinners = [multiprocessing.get_context("fork").Process(target=spin, daemon=True) for _ in range(cores)]
    for process in spinners:
        process.start()
    try:
        busy_s = default_run_fit_seconds(epochs, [])
    finally:
        for process in spinners:
            process.kill()  # SIGKILL: a fork keeps Lightning's SIGTERM handler, which would not end it
            process.join()
    return {"name": "busy/default_run", "cores": cores, "busy_processes": cores, "epochs": epochs,
            "idle_s": round(idle_s, 3), "busy_s": round(busy_s, 3), "ratio": round(busy_s / idle_s, 2),
            "target_ratio": 2.0}


def print_table(rows: list[dict]) -> None:
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="JSON file to write")
    parser.add_argument("--epochs", type=int, help="epochs per fit (speed rows: 30 tutorial, 8 large; heads: 8)")
    parser.add_argument("--rounds", type=int, default=3, help="fits per model and setting, alternating")
    parser.add_argument("--accelerator", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--points", type=int, default=10_000_000, help="series length for windowing")
    parser.add_argument("--busy-epochs", type=int, default=10, help="epochs per fit of the busy row")
    parser.add_argument("--panel-series", type=int, default=500, help="series of the panel row")
    parser.add_argument("--panel-years", type=int, default=20, help="years of trading days per panel series")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["speed", "heads", "windowing", "panel", "linear", "distribution", "busy",
                                 "sweep", "backtest"])
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--windowing-child", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--panel-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.windowing_child:
        print(json.dumps(windowing_child(*args.windowing_child)))
        return
    if args.panel_child:
        torch.set_num_threads(1)
        print(json.dumps(panel_child(Path(args.panel_child[0]), int(args.panel_child[1]))))
        return

    torch.set_num_threads(1)  # the measured setting: one torch thread, as a sweep job would run
    sys.path.insert(0, str(Path(__file__).parent))  # sweep_benchmark.py, which also runs alone
    rows = []
    if "windowing" not in args.skip:
        rows.append(windowing_row(args.points, 64))
    if "panel" not in args.skip:
        rows.append(panel_row(args.panel_series, args.panel_years))
    if "linear" not in args.skip:
        rows += [linear_row(n_steps) for n_steps in (20, 64)]
    if "distribution" not in args.skip:
        rows.append(distribution_baselines_row())
    if "busy" not in args.skip:
        rows.append(busy_row(args.busy_epochs))
    if "speed" not in args.skip:
        rows += speed_rows(args.epochs, args.rounds, args.accelerator, args.settings, args.models)
    if "heads" not in args.skip:
        rows += head_rows(args.epochs or 8, args.rounds, args.accelerator, args.settings)
    if "backtest" not in args.skip:
        rows.append(backtest_row())
    if "sweep" not in args.skip:
        from sweep_benchmark import joblib_sweep_row

        rows.append(joblib_sweep_row())
    print_table(rows)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
