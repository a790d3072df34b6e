"""A panel: several price series, one global model. Each series is prepared exactly as a run of one
series is (a StockDataModule of its own: cleaned, split by the same dates, scaled on its own
training rows); their windows are pooled, so none crosses from one series into another."""

from __future__ import annotations

import logging

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from stockrnn.data.datamodule import StockDataModule, window_loader
from stockrnn.data.panel_sources import is_panel, read_panel
from stockrnn.data.splits import WindowRange
from stockrnn.data.targets import TargetCodec
from stockrnn.data.windows import SplitIntoMinibatches, WindowDataset, already_batched
from stockrnn.errors import NotEnoughRows, StockrnnError

log = logging.getLogger(__name__)

PANEL_KEYS = ("series_column", "layout", "series")  # the settings a one-series run does not take


class PooledWindows(Dataset):
    """Several series' windows as one dataset: an item is (x, y, anchor, series index).

    Each series' inputs and prices are laid end to end; a window is addressed by the row of its
    first target in that concatenation and only rows of its own series are ever valid first
    targets, so a window never reads another series. Targets are encoded with each window's own
    series' codec. One gather per batch, as in WindowDataset.

    Window i is the (i - first_window[k])-th window of series k, the series whose windows start
    at or before it: the datasets hold a few numbers per series, nothing per window (an index
    per window was 12 bytes of each of a large panel's millions).

    `end_to_end`: the parts' inputs and prices already concatenated in their order (a
    PanelDataModule keeps them so, see lay_end_to_end); without it they are concatenated here.
    """

    def __init__(self, parts: list[WindowDataset], series_index: list[int],
                 end_to_end: tuple[torch.Tensor, torch.Tensor] | None = None):
        first = parts[0]
        self.n_steps, self.horizon = first.n_steps, first.horizon
        lengths = [len(part.target_prices) for part in parts]
        self.inputs, self.target_prices = end_to_end or (torch.cat([part.inputs for part in parts]),
                                                         torch.cat([part.target_prices for part in parts]))
        assert len(self.inputs) == len(self.target_prices) == sum(lengths)
        self.input_windows = self.inputs.unfold(0, self.n_steps, 1).transpose(1, 2)
        self.target_windows = self.target_prices.unfold(0, self.horizon, 1)
        # Per series: its first window's index in the pool, and the row of that window's first
        # target in the concatenation.
        self.first_window = torch.tensor(np.cumsum([0] + [len(part) for part in parts]))
        row_starts = np.cumsum([0] + lengths[:-1])
        self.first_row = torch.tensor([part.first_target_row + int(start) for part, start in zip(parts, row_starts)])
        self.series_index = torch.as_tensor(series_index, dtype=torch.int64)
        self.codec = TargetCodec.stack([part.codec for part in parts])

    def locate(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each window's position among the parts and the row of its first target."""
        position = torch.searchsorted(self.first_window, index, right=True) - 1
        return position, self.first_row[position] + (index - self.first_window[position])

    def __len__(self) -> int:
        return int(self.first_window[-1])

    def _gather(self, index) -> tuple[torch.Tensor, ...]:
        index = torch.as_tensor(index, dtype=torch.int64)
        if index.numel() and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"window index out of range 0..{len(self) - 1}")  # locate would read another series
        position, rows = self.locate(index)
        prices, anchor = self.target_windows[rows], self.target_prices[rows - 1]
        targets = self.codec.select(position).encode(prices, anchor)
        # The series index as int64: what an embedding looks up.
        return self.input_windows[rows - self.n_steps], targets, anchor, self.series_index[position]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return self._gather(i)

    def __getitems__(self, indices) -> tuple[torch.Tensor, ...]:
        return self._gather(indices)

    def all_windows(self) -> tuple[torch.Tensor, ...]:
        return self._gather(torch.arange(len(self)))


class PanelDataModule(L.LightningDataModule):
    """The DataModule of a panel (data.series_column, a glob in data.path, data.layout=wide or an
    embedded panel): the same keys as StockDataModule, and the series to read."""

    def __init__(self, features: list[str], target: str, train_start, train_end, test_start, test_end,
                 n_steps: int, horizon: int = 1, val_fraction: float = 0.2, batch_size: int = 32,
                 batches_per_step: int = 16, scaler: str = "minmax", transform: str = "level",
                 shuffle_train: bool = True, path: str | None = None, embedded: str | None = None,
                 date_column: str = "Date", fill: str | None = None, sep: str | None = None,
                 decimal: str | None = None, calendar: str | None = "XNYS", series_column: str | None = None,
                 layout: str = "long", series: list[str] | None = None):
        super().__init__()
        self.save_hyperparameters()  # stored in checkpoints, as StockDataModule's
        settings = dict(self.hparams)
        self.panel_settings = {key: settings.pop(key) for key in PANEL_KEYS}
        self.series_settings = settings  # what each series' own StockDataModule is made from
        self.source = str(path) if path is not None else f"embedded dataset '{embedded}'"
        self.path, self.embedded = path, embedded
        self.features, self.target = list(features), target
        self.n_steps, self.horizon, self.transform = n_steps, horizon, transform
        self.batch_size, self.batches_per_step, self.shuffle_train = batch_size, batches_per_step, shuffle_train
        self.calendar = calendar
        self.parts: dict[str, StockDataModule] = {}  # series name -> its prepared data, in index order
        # Set by load_state_dict from a checkpoint: each known series' scalers and its index (its
        # row of the series embedding). A series the checkpoint has not seen gets neither.
        self.stored: dict[str, dict] = {}
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
                          self.hparams.decimal, self.panel_settings["series_column"],
                          self.panel_settings["layout"], self.target, self.panel_settings["series"])

    def series_data(self, name: str) -> StockDataModule:
        """A StockDataModule for one series, with the checkpoint's scalers when it has them."""
        part = StockDataModule(**self.series_settings)
        part.source = f"{self.source}, series '{name}'"
        if name in self.stored:
            part.load_state_dict(self.stored[name])
        return part

    def setup(self, stage: str | None = None) -> None:
        if self.parts:
            return
        for name, raw in self.read_series().items():
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

    def prepared(self, name: str, raw: pd.DataFrame) -> StockDataModule | None:
        """One series prepared as a one-series run would be; None, with a warning naming it, when it
        has too few rows for the run's dates (a stock listed after the training years, say). Any other
        problem with its data stops the run, as it would stop a run of that series alone."""
        part = self.series_data(name)
        try:
            part.prepare(raw)
        except NotEnoughRows as err:
            self.dropped.append(name)
            log.warning("%s: series '%s' dropped: %s", self.source, name, err)
            return None
        return part

    @property
    def unseen_series(self) -> list[str]:
        """Series read here that the checkpoint loaded into this DataModule was not trained on."""
        return [name for name in self.parts if self.known_series and name not in self.known_series]

    def index_of(self, name: str) -> int:
        """A series' index (its row of the series embedding): its position among the checkpoint's
        series, or here when training. A series the checkpoint has not seen gets 0, read only by
        a network without an embedding (see refuse_unseen_series)."""
        if not self.known_series:
            return self.series_names.index(name)
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

    def state_dict(self) -> dict:
        """Each series' scalers by name, in series index order (see load_state_dict)."""
        return {"features": self.features, "target": self.target, "series": self.series_names,
                "per_series": {name: part.state_dict() for name, part in self.parts.items()},
                "dropped": self.dropped}

    def load_state_dict(self, state: dict) -> None:
        if "series" not in state:
            raise StockrnnError("the checkpoint was trained on one series, not on a panel: leave data.series_column, "
                                "data.layout and data.series as they were")
        self.known_series = list(state["series"])
        self.dropped_in_training = list(state.get("dropped", []))
        self.stored = dict(state["per_series"])


def refuse_unseen_series(datamodule: PanelDataModule, unseen: list[str], module) -> None:
    """With a series embedding, a series the checkpoint was not trained on has no row of it: refuse.
    Without one, such a series is scaled on its own training rows and forecast like the others."""
    if unseen and module.hparams.get("series_embedding", 0):
        known = datamodule.known_series
        raise StockrnnError(
            f"{datamodule.source}: series {', '.join(map(repr, unseen[:5]))}{' ...' if len(unseen) > 5 else ''} "
            f"not among the {len(known)} the checkpoint was trained on ({', '.join(known[:5])}"
            f"{' ...' if len(known) > 5 else ''}), and its model.series_embedding has no vector for "
            "them: choose known series with data.series")


def make_datamodule(**settings) -> StockDataModule | PanelDataModule:
    """What `data.*` describes: a panel when it names several series (see is_panel), else one series.
    Hydra makes the DataModule through this (conf/data/default.yaml), and so do eval and predict
    from a checkpoint's settings."""
    panel = {key: settings.pop(key, default) for key, default in zip(PANEL_KEYS, (None, "long", None))}
    if is_panel(settings.get("path"), settings.get("embedded"), panel["series_column"], panel["layout"]):
        return PanelDataModule(**settings, **panel)
    if panel["series"] is not None:
        raise StockrnnError(f"data.series={panel['series']} selects series of a panel, and "
                            f"{settings.get('path') or settings.get('embedded')} is read as one series: set "
                            "data.series_column (a long CSV), data.layout=wide, or a glob in data.path")
    return StockDataModule(**settings)
