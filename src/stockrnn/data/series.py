"""One price series made ready for a network: cleaned, split by dates, scaled on its training rows,
its windows addressed by row. A run's DataModule (datamodule.py) holds one of these per series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from stockrnn.data.features import add_derived, base_columns, check_finite
from stockrnn.data.prices import numeric_columns
from stockrnn.data.scaling import Scaler
from stockrnn.data.targets import TargetCodec
from stockrnn.data.splits import Splits, WindowRange, split_rows
from stockrnn.data.windows import WindowDataset
from stockrnn.errors import StockrnnError


@dataclass(frozen=True)
class SplitTargets:
    """What evaluation needs about one split's windows, in price units."""

    dates: np.ndarray  # windows x horizon: the date of each target
    actual: np.ndarray  # windows x horizon
    last_known: np.ndarray  # windows: the target on the day before the first target (persistence)


class PriceSeries:
    """One series' data: `source` names it in errors; the rest are the data.* keys of the same
    names (conf/data/default.yaml). `splits` and the scaled tensors exist once prepared."""

    def __init__(self, source: str, features: list[str], target: str, train_start, train_end, test_start,
                 test_end, n_steps: int, horizon: int = 1, val_fraction: float = 0.2, scaler: str = "minmax",
                 transform: str = "level", fill: str | None = None, window_norm: str = "none"):
        self.source = source
        self.features, self.target = list(features), target
        self.bounds = (train_start, train_end, test_start, test_end)
        self.n_steps, self.horizon, self.val_fraction = n_steps, horizon, val_fraction
        self.scaler_kind, self.transform, self.fill, self.window_norm = scaler, transform, fill, window_norm
        # Set by load_state_dict when evaluating a checkpoint: then the stored scalers are used.
        self.feature_scaler: Scaler | None = None
        self.target_codec: TargetCodec | None = None
        self.frame: pd.DataFrame | None = None

    @property
    def n_features(self) -> int:
        return len(self.features)

    def model_columns(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The target and every input column, derived ones included, validated as numbers."""
        columns = [c for feature in self.features for c in base_columns(feature)] + [self.target]
        numbers = numeric_columns(raw, list(dict.fromkeys(columns)), self.source, self.fill)
        return add_derived(numbers, self.features)

    def scaled_inputs(self, frame: pd.DataFrame) -> torch.Tensor:
        return self.feature_scaler.transform_columns([frame[f].to_numpy() for f in self.features])

    def prepare(self, raw: pd.DataFrame) -> None:
        """Split a date-indexed frame, fit the scalers on training rows, keep scaled tensors."""
        self.frame = self.model_columns(raw)
        self.splits: Splits = split_rows(self.frame.index, *self.bounds, self.n_steps, self.horizon,
                                         self.val_fraction)
        train_first, train_stop = self.splits.train_rows
        check_finite(self.frame.iloc[self.splits.train.first - self.n_steps:self.splits.test.stop],
                     self.features, self.source)
        if self.feature_scaler is None:  # fit on training dates only
            train = self.frame.iloc[train_first:train_stop]
            self.feature_scaler = Scaler.fit(self.scaler_kind, train[self.features].to_numpy())
            self.target_codec = TargetCodec.fit(self.transform, self.scaler_kind, train[self.target].to_numpy())
        self.inputs = self.scaled_inputs(self.frame)
        self.target_prices = torch.from_numpy(self.frame[self.target].to_numpy().astype(np.float32))
        # From here on only the target and the dates are read (targets, baselines, figures): the
        # inputs live scaled in self.inputs. A panel of 500 series kept 100 MB of them as float64.
        self.frame = self.frame[[self.target]]

    def dataset(self, window_range: WindowRange) -> WindowDataset:
        return WindowDataset(self.inputs, self.target_prices, self.n_steps, self.horizon,
                             window_range.first, window_range.count, self.target_codec, self.window_norm)

    def to_price(self, encoded: np.ndarray, last_known: np.ndarray) -> np.ndarray:
        """Network outputs (windows x horizon) -> prices, given each window's last known price."""
        return self.target_codec.decode(np.asarray(encoded, dtype=np.float64), last_known)

    def split_targets(self, window_range: WindowRange) -> SplitTargets:
        rows = np.arange(window_range.first, window_range.stop)
        target_rows = rows[:, None] + np.arange(self.horizon)
        prices = self.frame[self.target].to_numpy()
        return SplitTargets(
            dates=self.frame.index.to_numpy()[target_rows],
            actual=prices[target_rows],
            last_known=prices[rows - 1],
        )

    def state_dict(self) -> dict:
        """Stored in every checkpoint: what a later eval or predict needs to scale new data."""
        return {"features": self.features, "target": self.target,
                "feature_scaler": self.feature_scaler.to_dict(),
                "target_codec": self.target_codec.to_dict()}

    def load_state_dict(self, state: dict) -> None:
        if list(state["features"]) != self.features or state["target"] != self.target:
            raise StockrnnError(
                f"the checkpoint was trained on features {state['features']} -> {state['target']}, "
                f"not {self.features} -> {self.target}"
            )
        self.feature_scaler = Scaler.from_dict(state["feature_scaler"])
        self.target_codec = TargetCodec.from_dict(state["target_codec"])
