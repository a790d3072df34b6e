"""The LightningDataModule: a price series split by dates, scaled on training rows, windowed."""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, RandomSampler, SequentialSampler

from stockrnn.data.features import add_derived, base_columns, check_finite
from stockrnn.data.prices import load_embedded, numeric_columns, read_price_csv
from stockrnn.data.scaling import Scaler
from stockrnn.data.targets import TargetCodec
from stockrnn.data.splits import Splits, WindowRange, split_rows
from stockrnn.data.windows import SlicedBatchSampler, SplitIntoMinibatches, WindowDataset, already_batched
from stockrnn.errors import StockrnnError


@dataclass(frozen=True)
class SplitTargets:
    """What evaluation needs about one split's windows, in price units."""

    dates: np.ndarray  # windows x horizon: the date of each target
    actual: np.ndarray  # windows x horizon
    last_known: np.ndarray  # windows: the target on the day before the first target (persistence)


def window_loader(dataset, batch_size: int, batches_per_step: int, shuffle: bool, collate_fn) -> DataLoader:
    """Batches of batches_per_step minibatches, read in one gather (see Forecaster)."""
    order = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
    batches = SlicedBatchSampler(order, batch_size * batches_per_step, drop_last=False)
    return DataLoader(dataset, batch_sampler=batches, collate_fn=collate_fn)


class StockDataModule(L.LightningDataModule):
    def __init__(self, features: list[str], target: str, train_start, train_end, test_start,
                 test_end, n_steps: int, horizon: int = 1, val_fraction: float = 0.2,
                 batch_size: int = 32, batches_per_step: int = 16, scaler: str = "minmax",
                 transform: str = "level", shuffle_train: bool = True,
                 path: str | None = None, embedded: str | None = None, date_column: str = "Date",
                 fill: str | None = None, sep: str | None = None, decimal: str | None = None,
                 calendar: str | None = "XNYS"):
        super().__init__()
        self.save_hyperparameters()  # stored in checkpoints: eval and predict rebuild the data from it
        if path is None and embedded is None:
            raise StockrnnError("set data.path to a CSV file (or use the embedded default: data=default)")
        self.source = str(path) if path is not None else f"embedded dataset '{embedded}'"
        self.path, self.embedded, self.date_column = path, embedded, date_column
        self.features, self.target = list(features), target
        self.bounds = (train_start, train_end, test_start, test_end)
        self.n_steps, self.horizon, self.val_fraction = n_steps, horizon, val_fraction
        self.batch_size, self.batches_per_step = batch_size, batches_per_step
        self.scaler_kind, self.transform, self.shuffle_train = scaler, transform, shuffle_train
        self.fill, self.sep, self.decimal = fill, sep, decimal
        self.calendar = calendar  # whose sessions predict's forecast dates are (stockrnn.data.sessions)
        # Set by load_state_dict when evaluating a checkpoint: then the stored scalers are used.
        self.feature_scaler: Scaler | None = None
        self.target_codec: TargetCodec | None = None
        self.frame: pd.DataFrame | None = None

    @property
    def n_features(self) -> int:
        return len(self.features)

    n_series = 1  # a panel has several (data/panel.py)

    @property
    def parts(self) -> dict[str, "StockDataModule"]:
        """Series name -> its data, as a panel has them: for code that goes through every series."""
        return {self.target: self}

    def setup(self, stage: str | None = None) -> None:
        if self.frame is not None:  # Lightning calls setup once per trainer entry point
            return
        self.prepare(self.read_raw())

    def read_raw(self) -> pd.DataFrame:
        return (read_price_csv(self.path, self.date_column, self.sep, self.decimal) if self.path is not None
                else load_embedded(self.embedded))

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
                             window_range.first, window_range.count, self.target_codec)

    def _loader(self, window_range: WindowRange, shuffle: bool, collate_fn) -> DataLoader:
        return window_loader(self.dataset(window_range), self.batch_size, self.batches_per_step, shuffle,
                             collate_fn)

    def train_dataloader(self) -> DataLoader:
        """Each item: a list of minibatches of batch_size windows, one optimizer step each."""
        return self._loader(self.splits.train, self.shuffle_train, SplitIntoMinibatches(self.batch_size))

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, False, already_batched)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, False, already_batched)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

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
        if "series" in state:
            raise StockrnnError("the checkpoint was trained on a panel of several series: read its data as a panel "
                                "(data.series_column, data.layout or a glob, as in its run)")
        if list(state["features"]) != self.features or state["target"] != self.target:
            raise StockrnnError(
                f"the checkpoint was trained on features {state['features']} -> {state['target']}, "
                f"not {self.features} -> {self.target}"
            )
        self.feature_scaler = Scaler.from_dict(state["feature_scaler"])
        self.target_codec = TargetCodec.from_dict(state["target_codec"])
