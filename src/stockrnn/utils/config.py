"""Where the Hydra configs live, and the checks a config passes before any data is read."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from stockrnn.data.scaling import SCALERS
from stockrnn.data.targets import TRANSFORMS
from stockrnn.errors import StockrnnError
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


OmegaConf.register_new_resolver("stockrnn.run_name", run_name, replace=True)
# conf/hydra/launcher/submitit_slurm.yaml shares its name with the plugin's schema on purpose:
# `hydra/launcher=submitit_slurm` keeps working with our cluster defaults. Hydra 1.3 validates it
# against that schema and warns that it will stop doing so; the file lists every key the launcher
# reads, so it also works without the schema.
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/submitit_slurm' is validated against ConfigStore schema")


def _positive_int(cfg: DictConfig, key: str) -> None:
    value = cfg.get(key.split(".")[-1])
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StockrnnError(f"{key}={value!r}: expected a positive integer")


def _in_range(value, key: str, low: float, high: float, closed_low: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        (low <= value if closed_low else low < value) and value < high)
    if not ok:
        bracket = "[" if closed_low else "("
        raise StockrnnError(f"{key}={value!r}: expected a number in {bracket}{low}, {high})")


def check_config(cfg: DictConfig) -> None:
    """Reject impossible values once, where the config is read, with the key and what was expected."""
    data, model = cfg.data, cfg.model
    for key in ("n_steps", "horizon", "batch_size"):
        _positive_int(data, f"data.{key}")
    for key in ("hidden_size", "num_layers"):
        _positive_int(model, f"model.{key}")
    _in_range(model.dropout, "model.dropout", 0.0, 1.0, closed_low=True)
    _in_range(data.val_fraction, "data.val_fraction", 0.0, 1.0, closed_low=False)
    if data.scaler not in SCALERS:
        raise StockrnnError(f"data.scaler={data.scaler!r}: expected one of {', '.join(SCALERS)}")
    if data.transform not in TRANSFORMS:
        raise StockrnnError(f"data.transform={data.transform!r}: expected one of {', '.join(TRANSFORMS)}")
    if model.cell not in CELLS:
        raise StockrnnError(f"model.cell={model.cell!r}: expected one of {', '.join(CELLS)}")
    if not list(data.features):
        raise StockrnnError("data.features is empty: expected a list of input columns, e.g. [High]")
