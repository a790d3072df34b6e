"""The LightningDataModule of every run: one series (a CSV, an embedded series) or a panel of several
(data.series_column, a glob in data.path, data.layout=wide, an embedded panel), held the same way: a
single series is a panel of one. Each series is prepared on its own (cleaned, split by the same dates,
scaled on its own training rows, see series.py); their windows are pooled, so none crosses from one
series into another."""

from __future__ import annotations

import logging

import lightning as L
import pandas as pd
import torch
from torch.utils.data import DataLoader

from stockrnn.data.sources import is_panel, read_panel
from stockrnn.data.series import PriceSeries
from stockrnn.data.splits import WindowRange
from stockrnn.data.targets import TargetCodec
from stockrnn.data.windows import PooledWindows, SplitIntoMinibatches, already_batched, on_device, window_loader
from stockrnn.errors import NotEnoughRows, StockrnnError

log = logging.getLogger(__name__)

# The data.* keys each series is prepared with (PriceSeries); the others say what to read and how to batch.
SERIES_KEYS = ("features", "target", "train_start", "train_end", "test_start", "test_end", "n_steps", "horizon",
               "val_fraction", "scaler", "transform", "fill", "window_norm")


class PriceDataModule(L.LightningDataModule):
    """data.* (conf/data/default.yaml). `is_panel`: the settings name several series (see is_panel;
    a glob of one file too); only a panel's forecasts carry series names and a per-series table."""

    def __init__(self, features: list[str], target: str, train_start, train_end, test_start, test_end,
                 n_steps: int, horizon: int = 1, val_fraction: float = 0.2, batch_size: int = 32,
                 batches_per_step: int = 16, scaler: str = "minmax", transform: str = "level",
                 shuffle_train: bool = True, path: str | None = None, embedded: str | None = None,
                 date_column: str = "Date", fill: str | None = None, sep: str | None = None,
                 decimal: str | None = None, calendar: str | None = "XNYS", series_column: str | None = None,
                 layout: str = "long", series: list[str] | None = None, window_norm: str = "none"):
        super().__init__()
        self.save_hyperparameters()  # stored in checkpoints: eval and predict rebuild the data from it
        if path is None and embedded is None:
            raise StockrnnError("set data.path to a CSV file (or use the embedded default: data=default)")
        self.is_panel = is_panel(path, embedded, series_column, layout)
        if series is not None and not self.is_panel:
            raise StockrnnError(f"data.series={series} selects series of a panel, and {path or embedded} is read "
                                "as one series: set data.series_column (a long CSV), data.layout=wide, or a glob "
                                "in data.path")
        self.series_settings = {key: self.hparams[key] for key in SERIES_KEYS}
        self.source = str(path) if path is not None else f"embedded dataset '{embedded}'"
        self.path, self.embedded = path, embedded
        self.features, self.target = list(features), target
        self.n_steps, self.horizon, self.transform = n_steps, horizon, transform
        self.batch_size, self.batches_per_step, self.shuffle_train = batch_size, batches_per_step, shuffle_train
        self.calendar = calendar  # whose sessions predict's forecast dates are (stockrnn.data.sessions)
        self.parts: dict[str, PriceSeries] = {}  # series name -> its prepared data, in index order
        # Set by load_state_dict from a checkpoint: each known series' scalers and its index (its
        # row of the series embedding). A series the checkpoint has not seen gets neither. A
        # one-series checkpoint's scalers apply to the one series read, whatever its name.
        self.stored: dict[str, dict] = {}
        self.stored_single: dict | None = None
        self.known_series: list[str] = []
        self.dropped: list[str] = []  # series with too few rows for the dates, left out with a warning
        self.dropped_in_training: list[str] = []  # the checkpoint's (load_state_dict)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def n_series(self) -> int:
        return len(self.parts)

    @property
    def series_names(self) -> list[str]:
        return list(self.parts)

    @property
    def target_codec(self) -> TargetCodec:
        """The codecs of every series, by series index: what the network's val/rmse decodes with."""
        return TargetCodec.stack([part.target_codec for part in self.parts.values()])

    def read_series(self) -> dict[str, pd.DataFrame]:
        return read_panel(self.path, self.embedded, self.hparams.date_column, self.hparams.sep,
                          self.hparams.decimal, self.hparams.series_column, self.hparams.layout, self.target,
                          self.hparams.series)

    def stored_state(self, name: str) -> dict | None:
        """The checkpoint's scalers for a series (None: none loaded, or a series it has not seen)."""
        return self.stored.get(name, self.stored_single)

    def series_data(self, name: str) -> PriceSeries:
        """One series' PriceSeries, with the checkpoint's scalers when it has them."""
        part = PriceSeries(f"{self.source}, series '{name}'" if self.is_panel else self.source, **self.series_settings)
        if (state := self.stored_state(name)) is not None:
            part.load_state_dict(state)
        return part

    def setup(self, stage: str | None = None) -> None:
        if self.parts:  # Lightning calls setup once per trainer entry point
            return
        self.prepare_series(self.read_series())

    def prepare_series(self, frames: dict[str, pd.DataFrame]) -> None:
        """Prepare each series of `frames` (name -> its date-indexed frame, as read_series gives them)
        and lay their tensors end to end."""
        for name, raw in frames.items():
            part = self.prepared(name, raw)
            if part is not None:
                self.parts[name] = part
        if not self.parts:
            raise StockrnnError(f"{self.source}: no series has enough rows for the run's dates "
                                f"({len(self.dropped)} dropped, see the warnings above)")
        if self.dropped:
            log.warning("%s: %d of %d series dropped for too few rows: %s", self.source, len(self.dropped),
                        len(self.dropped) + len(self.parts),
                        ", ".join(self.dropped[:10]) + (" ..." if len(self.dropped) > 10 else ""))
        self.lay_end_to_end()

    def lay_end_to_end(self) -> None:
        """One tensor of every series' inputs and one of their prices, each series' own now a view
        into them: every split's pooled windows (the loaders', evaluation's) read these two instead
        of concatenating copies of their own, and no series is held twice."""
        parts = list(self.parts.values())
        lengths = [len(part.target_prices) for part in parts]
        first = parts[0]
        self.inputs = first.inputs.new_empty((sum(lengths), *first.inputs.shape[1:]))
        self.target_prices = first.target_prices.new_empty(sum(lengths))
        # Series by series, each one's own tensors freed as soon as they are copied: never two
        # copies of the whole panel (torch.cat would hold both).
        for part, inputs, prices in zip(parts, self.inputs.split(lengths), self.target_prices.split(lengths)):
            inputs.copy_(part.inputs)
            prices.copy_(part.target_prices)
            part.inputs, part.target_prices = inputs, prices

    def prepared(self, name: str, raw: pd.DataFrame) -> PriceSeries | None:
        """One series prepared; None, with a warning naming it, when a panel's series has too few rows
        for the run's dates (a stock listed after the training years, say). Any other problem with its
        data stops the run, and so does a lone series' lack of rows."""
        part = self.series_data(name)
        try:
            part.prepare(raw)
        except NotEnoughRows as err:
            if not self.is_panel:
                raise
            self.dropped.append(name)
            log.warning("%s: series '%s' dropped: %s", self.source, name, err)
            return None
        return part

    def is_unseen(self, name: str) -> bool:
        """A series the panel checkpoint loaded into this DataModule was not trained on."""
        return bool(self.known_series) and name not in self.known_series

    @property
    def unseen_series(self) -> list[str]:
        """Series read here that the checkpoint loaded into this DataModule was not trained on."""
        return [name for name in self.parts if self.is_unseen(name)]

    def index_of(self, name: str) -> int:
        """A series' index (its row of the series embedding): its position among the checkpoint's
        series, or here when training. A series the checkpoint has not seen gets 0, read only by
        a network without an embedding (see refuse_unseen_series)."""
        if not self.known_series:  # training; or a one-series checkpoint's, whose one series is 0
            return self.series_names.index(name) if name in self.parts else 0
        return self.known_series.index(name) if name in self.known_series else 0

    def series_index(self) -> list[int]:
        """Each series' index, in the order of self.parts."""
        return [self.index_of(name) for name in self.parts]

    def pooled(self, split: str) -> PooledWindows:
        """Every series' windows of one split, series after series, each in time order."""
        return PooledWindows([part.dataset(getattr(part.splits, split)) for part in self.parts.values()],
                             self.series_index(), (self.inputs, self.target_prices))

    def windows_of(self, split: str) -> dict[str, WindowRange]:
        return {name: getattr(part.splits, split) for name, part in self.parts.items()}

    def train_dataloader(self) -> DataLoader:
        return window_loader(self.pooled("train"), self.batch_size, self.batches_per_step, self.shuffle_train,
                             SplitIntoMinibatches(self.batch_size))

    def val_dataloader(self) -> DataLoader:
        return window_loader(self.pooled("val"), self.batch_size, self.batches_per_step, False, already_batched)

    def test_dataloader(self) -> DataLoader:
        return window_loader(self.pooled("test"), self.batch_size, self.batches_per_step, False, already_batched)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        """A batch already on the device (every batch on the CPU) as it is (see windows.on_device)."""
        if on_device(batch, device):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def state_dict(self) -> dict:
        """Stored in every checkpoint: what a later eval or predict needs to scale new data. A panel's:
        each series' scalers by name, in series index order; one series': its scalers alone, which
        apply to any one series read with the checkpoint (another CSV of the same stock, say)."""
        if not self.is_panel:
            return next(iter(self.parts.values())).state_dict()
        return {"features": self.features, "target": self.target, "series": self.series_names,
                "per_series": {name: part.state_dict() for name, part in self.parts.items()},
                "dropped": self.dropped}

    def load_state_dict(self, state: dict) -> None:
        if "series" not in state:
            if self.is_panel:
                raise StockrnnError("the checkpoint was trained on one series, not on a panel: leave "
                                    "data.series_column, data.layout and data.series as they were")
            self.stored_single = state
            return
        # A panel's checkpoint reads its data as a panel, one CSV too (a panel of one, named by the file).
        self.is_panel = True
        self.known_series = list(state["series"])
        self.dropped_in_training = list(state.get("dropped", []))
        self.stored = dict(state["per_series"])


def refuse_unseen_series(datamodule: PriceDataModule, unseen: list[str], module) -> None:
    """With a series embedding, a series the checkpoint was not trained on has no row of it: refuse.
    Without one, such a series is scaled on its own training rows and forecast like the others."""
    if unseen and module.hparams.get("series_embedding", 0):
        known = datamodule.known_series
        raise StockrnnError(
            f"{datamodule.source}: series {', '.join(map(repr, unseen[:5]))}{' ...' if len(unseen) > 5 else ''} "
            f"not among the {len(known)} the checkpoint was trained on ({', '.join(known[:5])}"
            f"{' ...' if len(known) > 5 else ''}), and its model.series_embedding has no vector for "
            "them: choose known series with data.series")
