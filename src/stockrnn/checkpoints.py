"""Read a stockrnn checkpoint back: network, data settings and scalers, as plain data only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from stockrnn.data.datamodule import StockDataModule
from stockrnn.errors import StockrnnError
from stockrnn.models.forecaster import Forecaster

REQUIRED_KEYS = ("state_dict", "hyper_parameters", "datamodule_hyper_parameters", StockDataModule.__qualname__)


@dataclass
class Restored:
    module: Forecaster
    data_settings: dict  # the StockDataModule arguments the checkpoint was trained with
    data_state: dict  # scalers and column names
    epoch: int


def load_checkpoint(path: str | Path) -> Restored:
    """weights_only loading: a checkpoint cannot run code when read (see README: Checkpoints)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise StockrnnError(f"checkpoint not found: {path} (set ckpt_path to a .ckpt file of a run)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt or foreign file
        raise StockrnnError(f"{path} is not a readable stockrnn checkpoint ({type(err).__name__})") from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise StockrnnError(f"{path} is not a stockrnn checkpoint: it lacks {', '.join(missing)}")
    module = Forecaster(**checkpoint["hyper_parameters"])
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise StockrnnError(f"{path}: its weights do not fit the network it describes ({err})") from None
    return Restored(module, dict(checkpoint["datamodule_hyper_parameters"]),
                    checkpoint[StockDataModule.__qualname__], int(checkpoint.get("epoch", -1)) + 1)


def datamodule_for(restored: Restored, overrides: dict) -> StockDataModule:
    """The checkpoint's data settings with `overrides` (non-null values only), its scalers loaded."""
    settings = restored.data_settings | {k: v for k, v in overrides.items() if v is not None}
    datamodule = StockDataModule(**settings)
    datamodule.load_state_dict(restored.data_state)
    return datamodule
