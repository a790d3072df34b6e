"""Read a stockrnn checkpoint back (network, data settings and scalers, as plain data only), and
check that one fits the run that wants to resume from it."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from stockrnn.data.datamodule import PriceDataModule
from stockrnn.data.sources import is_glob
from stockrnn.errors import StockrnnError
from stockrnn.models.forecaster import Forecaster
from stockrnn.training.resume import OVERRIDES_FILE, run_dir_of, train_command
from stockrnn.utils.config import check_data_settings

REQUIRED_KEYS = ("state_dict", "hyper_parameters", "datamodule_hyper_parameters")
# Where Lightning keeps the DataModule's state (its class name): today's, and the one-series and
# panel DataModules' of checkpoints written before a single series became a panel of one.
DATA_STATE_KEYS = (PriceDataModule.__qualname__, "StockDataModule", "PanelDataModule")
# What must match for a checkpoint's weights and scalers to mean the same in another run.
NETWORK_KEYS = ("cell", "hidden_size", "num_layers", "dropout", "bidirectional", "nonlinearity", "distribution",
                "quantiles", "series_embedding")
DATA_KEYS = ("features", "target", "n_steps", "horizon", "scaler", "transform", "series_column", "layout", "series",
             "window_norm")
# Those of DATA_KEYS that change the stored scalers by themselves.
SCALER_KEYS = {"features", "target", "scaler", "transform", "series_column", "layout", "series"}


@dataclass
class Restored:
    module: Forecaster
    data_settings: dict  # the DataModule's arguments the checkpoint was trained with
    data_state: dict  # scalers and column names
    epoch: int


def read_checkpoint(path: str | Path) -> dict:
    """weights_only loading: a checkpoint cannot run code when read (see docs/checkpoints.md)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise StockrnnError(f"checkpoint not found: {path} (set ckpt_path to a .ckpt file of a run)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt or foreign file
        raise StockrnnError(f"{path} is not a readable stockrnn checkpoint ({type(err).__name__}); "
                            "expected a checkpoints/*.ckpt file written by stockrnn.train") from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if isinstance(checkpoint, dict) and not any(key in checkpoint for key in DATA_STATE_KEYS):
        missing.append(PriceDataModule.__qualname__)
    if missing:
        raise StockrnnError(f"{path} is not a stockrnn checkpoint: it lacks {', '.join(missing)}")
    return checkpoint


def weight_mismatches(module: nn.Module, state_dict: dict) -> list[str]:
    """Each weight of `state_dict` that `module` lacks or holds in another shape (empty: it fits)."""
    own = module.state_dict()
    problems = [f"{name} is missing" for name in own if name not in state_dict]
    problems += [f"{name} is not in the network" for name in state_dict if name not in own]
    problems += [f"{name} has shape {list(state_dict[name].shape)}, the network {list(own[name].shape)}"
                 for name in own if name in state_dict and state_dict[name].shape != own[name].shape]
    return problems


def load_checkpoint(path: str | Path) -> Restored:
    checkpoint = read_checkpoint(path)
    module = Forecaster(**checkpoint["hyper_parameters"])
    problems = weight_mismatches(module, checkpoint["state_dict"])
    if problems:
        raise StockrnnError(f"{path}: its weights do not fit the network it describes "
                            f"({len(problems)} mismatch{'es' if len(problems) > 1 else ''}, first: {problems[0]})")
    module.load_state_dict(checkpoint["state_dict"])
    module.on_load_checkpoint(checkpoint)
    return Restored(module, dict(checkpoint["datamodule_hyper_parameters"]), data_state(checkpoint),
                    int(checkpoint.get("epoch", -1)) + 1)


def data_state(checkpoint: dict) -> dict:
    """The scalers and column names a checkpoint's DataModule stored (one series' or a panel's)."""
    return next(checkpoint[key] for key in DATA_STATE_KEYS if key in checkpoint)


def load_initial_weights(path: str | Path, module: Forecaster, series: list[str]) -> None:
    """Start a fit from another run's weights (a backtest's warm start): only the network's
    weights are taken; scalers, optimizer state and epochs start afresh. series: this run's (a
    panel's series embedding has a row per series, matched by position: the same series, in the
    same order, or the rows would belong to others)."""
    checkpoint = read_checkpoint(path)
    theirs = data_state(checkpoint).get("series")
    if module.hparams.get("series_embedding", 0) and theirs is not None and list(theirs) != list(series):
        raise StockrnnError(f"cannot start from the weights of {path}: its series embedding was trained on the series "
                            f"{theirs}, not on {series}; its rows would be other series'")
    problems = weight_mismatches(module, checkpoint["state_dict"])
    if problems:
        raise StockrnnError(f"cannot start from the weights of {path}: they do not fit this run's network "
                            f"({problems[0]})")
    module.load_state_dict(checkpoint["state_dict"])


def datamodule_for(restored: Restored, overrides: dict) -> PriceDataModule:
    """The checkpoint's data settings with `overrides` (non-null values only), its scalers loaded."""
    settings = restored.data_settings | {k: v for k, v in overrides.items() if v is not None}
    if is_glob(overrides.get("path")):
        # A glob reads one series per file, named by the file: the checkpoint's own file's layout (a
        # series column, a wide file) says nothing about these, and a null override cannot unset it.
        settings |= {key: default for key, default in (("series_column", None), ("layout", "long"))
                     if overrides.get(key) is None}
    check_data_settings(settings)
    datamodule = PriceDataModule(**settings)
    datamodule.load_state_dict(restored.data_state)
    return datamodule


def network_settings(hparams) -> dict:
    """NETWORK_KEYS of a module's hyperparameters, comparable: a checkpoint from before a key
    existed has the key's default, and a list of levels equals the same tuple."""
    defaults = inspect.signature(Forecaster).parameters
    settings = {key: hparams.get(key, defaults[key].default) for key in NETWORK_KEYS}
    # The levels shape a distribution's head only; a point forecaster has none.
    settings["quantiles"] = ([float(level) for level in settings["quantiles"]]
                             if settings["distribution"] != "none" else None)
    return settings


def data_settings(hparams) -> dict:
    """DATA_KEYS of a DataModule's hyperparameters: a checkpoint from before a key existed has the
    key's default (one without data.window_norm normalized no window)."""
    defaults = inspect.signature(PriceDataModule).parameters
    return {key: hparams.get(key, defaults[key].default) for key in DATA_KEYS}


def check_resumable(path: str | Path, module: Forecaster, datamodule: PriceDataModule) -> None:
    """Refuse to resume from a checkpoint whose network or data settings differ from this run's:
    its weights would not load, or would mean something else here. Every difference is named at
    once, with the command that resumes with the checkpoint's own settings where its run recorded
    them. Other settings (data.batch_size, the optimizer, trainer.max_epochs...) may change."""
    checkpoint = read_checkpoint(path)
    theirs, ours = network_settings(checkpoint["hyper_parameters"]), network_settings(module.hparams)
    differences = [f"model.{key} {theirs[key]!r} there, {ours[key]!r} here"
                   for key in NETWORK_KEYS if theirs[key] != ours[key]]
    theirs, ours = data_settings(checkpoint["datamodule_hyper_parameters"]), data_settings(datamodule.hparams)
    data_keys = [key for key in DATA_KEYS if theirs[key] != ours[key]]
    differences += [f"data.{key} {theirs[key]!r} there, {ours[key]!r} here" for key in data_keys]
    if data_state(checkpoint) != datamodule.state_dict() and not set(data_keys) & SCALER_KEYS:
        differences.append("its scalers were fit on other training rows (data.path, data.train_start, "
                           "data.train_end)")
    if not differences:
        differences = weight_mismatches(module, checkpoint["state_dict"])
    if differences:
        run_dir = run_dir_of(path)
        command = train_command(run_dir, path)
        how = (f" (its run's overrides, {run_dir / OVERRIDES_FILE}): {command}" if command else "")
        raise StockrnnError(f"cannot resume from {path}: it comes from another configuration "
                            f"({'; '.join(differences)}); resume with the settings it was trained with{how}")
