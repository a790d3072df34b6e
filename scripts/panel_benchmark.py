"""The `panel` row of scripts/benchmark.py: one global model on many synthetic series read from a
long CSV (series, Date, Open, High, Low, Close, Volume), as a user runs it; the time to read and
window, to train one epoch and to evaluate, and the memory it takes against the series' own size.

    python scripts/panel_benchmark.py [--series 500] [--years 20]    # or through benchmark.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
FIRST_YEAR = 2000
NUMERIC_COLUMNS = ["Open", "High", "Low", "Close", "Volume"]
# The brief's small model: what a first global run over many stocks would try.
RUN = ["model=lstm", "model.hidden_size=16", "data.batch_size=512", "data.n_steps=20",
       "data.features=[Open,High,Low,Close]", "data.target=High", "trainer.accelerator=cpu",
       "trainer.max_epochs=1", "torch_threads=1"]


def write_synthetic_panel(path: Path, n_series: int, years: int, seed: int = 0) -> int:
    """Geometric random walks, one per series, on every business day of `years` whole years,
    with Open/High/Low around the Close and a Volume; written as one long CSV. Returns its rows."""
    dates = pd.bdate_range(f"{FIRST_YEAR}-01-01", f"{FIRST_YEAR + years - 1}-12-31").strftime("%Y-%m-%d")
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
    return [f"data.path={csv}", "data.series_column=series", f"data.train_start={FIRST_YEAR}",
            f"data.train_end={FIRST_YEAR + years - 2}", f"data.test_start={FIRST_YEAR + years - 1}",
            f"data.test_end={FIRST_YEAR + years - 1}", *RUN]


def panel_child(csv: Path, years: int) -> dict:
    """Run in a fresh process: a real train(cfg) (setup, one epoch, evaluation, run files), with
    its data setup, fit and evaluation timed where train calls them. Memory: the high-water mark
    above what the process held after its imports, by the end of each of them and of the run."""
    import lightning as L
    from benchmark import PeakMemory, compose_run

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
        result = subprocess.run([sys.executable, __file__, "--child", str(csv), str(years)],
                                check=False, capture_output=True, text=True, cwd=REPO_ROOT)
        if result.returncode != 0:
            raise RuntimeError(f"the panel run failed:\n{result.stderr[-3000:]}")
        child = json.loads(result.stdout.strip().splitlines()[-1])
    series_mb = rows * len(NUMERIC_COLUMNS) * 8 / 2**20  # the numbers as float64, dates aside
    return {"name": "panel", "series": n_series, "years": years, "rows": rows,
            "columns": len(NUMERIC_COLUMNS), "series_read": child["n_series"], "windows": child["windows"],
            "csv_mb": round(csv_mb, 1), "series_mb": round(series_mb, 1),
            "write_csv_seconds": round(write_seconds, 2),
            **{key: round(child[key], 2) for key in (
                "setup_seconds", "epoch_seconds", "fit_seconds", "evaluate_seconds", "run_seconds",
                "setup_peak_mb", "fit_peak_mb", "evaluate_peak_mb", "peak_mb")},
            "peak_over_series": round(child["peak_mb"] / series_mb, 2),
            "peak_over_csv": round(child["peak_mb"] / csv_mb, 2),
            "test_rmse": round(child["test_rmse"], 4), "target": "peak_over_series < 3"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(1)
        print(json.dumps(panel_child(Path(args.child[0]), int(args.child[1]))))
        return
    print(json.dumps(panel_row(args.series, args.years), indent=2))


if __name__ == "__main__":
    main()
