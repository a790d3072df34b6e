"""Shared fixtures: the real composed config, shrunk for speed; small synthetic price CSVs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from stockrnn.data.datamodule import PriceDataModule
from stockrnn.data.series import PriceSeries
from stockrnn.utils.config import CONFIG_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]
MASTERCARD_CSV = REPO_ROOT.parent / "shared" / "data" / "Mastercard_stock_history.csv"


def one_series(datamodule: PriceDataModule) -> PriceSeries:
    """A one-series run's data after setup: the only series of its DataModule (a panel of one)."""
    datamodule.setup("fit")
    (series,) = datamodule.parts.values()
    return series


def run_module(module: str, *args: str, timeout: float = 300, env: dict | None = None,
               cwd: Path = REPO_ROOT, **kwargs) -> subprocess.CompletedProcess:
    """`python -m module args` from the repository root (or `cwd`), as a user runs it; this
    checkout's source first on the path, also for the worker processes a launcher starts. No debug flags."""
    env = os.environ | {"PYTHONUNBUFFERED": "1",
                        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "src"),
                                                                    os.environ.get("PYTHONPATH")]))} | (env or {})
    for debug in ("HYDRA_FULL_ERROR", "STOCKRNN_DEBUG"):
        env.pop(debug, None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env, **kwargs)


def compose_config(overrides: list[str], output_dir: Path, config_name: str = "train") -> DictConfig:
    """The real config as the CLI composes it, writing into output_dir, quiet and quick."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        # No Hydra job here to name the run after: event files go straight into tensorboard/.
        # An MLflow store (logger=mlflow) in the run directory, not outputs/ of the working directory.
        cfg = compose(config_name, overrides=[f"paths.output_dir={output_dir}", "paths.run_name=",
                                              f"paths.mlflow_dir={output_dir}/mlruns", *overrides])
    if "callbacks" in cfg:
        with open_dict(cfg):
            cfg.callbacks.pop("progress_bar", None)
            cfg.trainer.enable_progress_bar = False
    return cfg


@pytest.fixture
def mastercard_csv() -> Path:
    if not MASTERCARD_CSV.is_file():
        pytest.skip(f"the tutorial's CSV is not at {MASTERCARD_CSV}")
    return MASTERCARD_CSV


def synthetic_prices(start: str = "2015-01-01", periods: int = 600, seed: int = 0) -> pd.DataFrame:
    """A business-day OHLCV random walk in the Kaggle layout."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=periods)
    close = 100 + np.cumsum(rng.normal(0, 1, periods))
    return pd.DataFrame({
        "Date": dates.strftime("%Y-%m-%d"), "Open": close + rng.normal(0, 0.3, periods),
        "High": close + np.abs(rng.normal(0.5, 0.3, periods)),
        "Low": close - np.abs(rng.normal(0.5, 0.3, periods)), "Close": close,
        "Volume": rng.integers(1_000, 10_000, periods),
    })


@pytest.fixture
def prices_csv(tmp_path) -> Path:
    """600 business days from 2015-01-01 (to mid 2017)."""
    path = tmp_path / "prices.csv"
    synthetic_prices().to_csv(path, index=False)
    return path
