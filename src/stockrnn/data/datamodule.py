"""The LightningDataModule: a price series split by dates, scaled on training rows, windowed."""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from stockrnn.data.prices import load_embedded, numeric_columns, read_price_csv
from stockrnn.data.scaling import Scaler
from stockrnn.data.splits import Splits, WindowRange, split_rows
from stockrnn.data.windows import WindowDataset, already_batched
from stockrnn.errors import StockrnnError


@dataclass(frozen=True)
class SplitTargets:
    """What evaluation needs about one split's windows, in price units."""

    dates: np.ndarray  # windows x horizon: the date of each target
    actual: np.ndarray  # windows x horizon
    last_known: np.ndarray  # windows: the target on the day before the first target (persistence)


class StockDataModule(L.LightningDataModule):
    def __init__(self, features: list[str], target: str, train_start, train_end, test_start,
                 test_end, n_steps: int, horizon: int = 1, val_fraction: float = 0.2,
                 batch_size: int = 32, scaler: str = "minmax", shuffle_train: bool = True,
                 path: str | None = None, embedded: str | None = None, date_column: str = "Date",
                 fill: str | None = None):
        super().__init__()
        self.save_hyperparameters()  # stored in checkpoints: eval and predict rebuild the data from it
        if path is None and embedded is None:
            raise StockrnnError("set data.path to a CSV file (or use the embedded default: data=default)")
        self.source = str(path) if path is not None else f"embedded dataset '{embedded}'"
        self.path, self.embedded, self.date_column = path, embedded, date_column
        self.features, self.target = list(features), target
        self.bounds = (train_start, train_end, test_start, test_end)
        self.n_steps, self.horizon, self.val_fraction = n_steps, horizon, val_fraction
        self.batch_size, self.scaler_kind, self.shuffle_train = batch_size, scaler, shuffle_train
        self.fill = fill
        # Set by load_state_dict when evaluating a checkpoint: then the stored scalers are used.
        self.feature_scaler: Scaler | None = None
        self.target_scaler: Scaler | None = None
        self.frame: pd.DataFrame | None = None

    @property
    def n_features(self) -> int:
        return len(self.features)

    def setup(self, stage: str | None = None) -> None:
        if self.frame is not None:  # Lightning calls setup once per trainer entry point
            return
        frame = (read_price_csv(self.path, self.date_column) if self.path is not None
                 else load_embedded(self.embedded))
        self.frame = numeric_columns(frame, list(dict.fromkeys(self.features + [self.target])), self.source,
                                     self.fill)
        self.splits: Splits = split_rows(self.frame.index, *self.bounds, self.n_steps, self.horizon,
                                         self.val_fraction)
        train_first, train_stop = self.splits.train_rows
        if self.feature_scaler is None:  # fit on training dates only
            self.feature_scaler = Scaler.fit(self.scaler_kind, self.frame[self.features].iloc[train_first:train_stop].to_numpy())
            self.target_scaler = Scaler.fit(self.scaler_kind, self.frame[[self.target]].iloc[train_first:train_stop].to_numpy())
        inputs = self.feature_scaler.transform(self.frame[self.features].to_numpy())
        targets = self.target_scaler.transform(self.frame[[self.target]].to_numpy())[:, 0]
        self.inputs = torch.as_tensor(inputs, dtype=torch.float32)
        self.targets = torch.as_tensor(targets, dtype=torch.float32)

    def dataset(self, window_range: WindowRange) -> WindowDataset:
        return WindowDataset(self.inputs, self.targets, self.n_steps, self.horizon,
                             window_range.first, window_range.count)

    def _loader(self, window_range: WindowRange, shuffle: bool) -> DataLoader:
        return DataLoader(self.dataset(window_range), batch_size=self.batch_size, shuffle=shuffle,
                          collate_fn=already_batched)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.splits.train, shuffle=self.shuffle_train)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

    @property
    def price_scale(self) -> float:
        """Price units per scaled target unit: turns a scaled RMSE into a price RMSE."""
        return self.target_scaler.scale[0]

    def to_price(self, scaled: np.ndarray) -> np.ndarray:
        return self.target_scaler.inverse(np.asarray(scaled, dtype=np.float64)[..., None])[..., 0]

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
                "target_scaler": self.target_scaler.to_dict()}

    def load_state_dict(self, state: dict) -> None:
        if list(state["features"]) != self.features or state["target"] != self.target:
            raise StockrnnError(
                f"the checkpoint was trained on features {state['features']} -> {state['target']}, "
                f"not {self.features} -> {self.target}"
            )
        self.feature_scaler = Scaler.from_dict(state["feature_scaler"])
        self.target_scaler = Scaler.from_dict(state["target_scaler"])
