"""Sliding windows as views over in-memory series, addressed by the row of their first target, and
the loaders that batch them.

Window r reads input rows [r - n_steps, r) and forecasts target rows [r, r + horizon). Nothing
materialises points x n_steps: `unfold` gives views and a batch gathers only its own windows.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from stockrnn.data.targets import TargetCodec
from stockrnn.data.window_norm import normalize, target_statistics


class WindowDataset(Dataset):
    """Windows whose first target row runs over [first_target_row, first_target_row + len).

    An item is (inputs: n_steps x features, targets: horizon, anchor): the anchor is the target's
    last known price (the row before the first target), which persistence repeats and from which
    a change-type codec measures the targets. Without a codec, targets are returned as stored.
    `window_norm` (data.window_norm): each input window scaled by its own statistics as it is
    gathered (window_norm.py). With revin an item adds the window's target statistics per step
    (centre, spread: horizon each), by which the network's target is normalized and its outputs
    mapped back (see batch_parts); the targets themselves stay as the codec encodes them.
    """

    def __init__(self, inputs: torch.Tensor, target_prices: torch.Tensor, n_steps: int, horizon: int,
                 first_target_row: int, length: int, codec: TargetCodec | None = None, window_norm: str = "none"):
        assert first_target_row >= n_steps and first_target_row + length + horizon - 1 <= len(target_prices)
        # inputs: rows x features; unfold adds the window axis last, hence the transpose.
        self.inputs = inputs
        self.input_windows = inputs.unfold(0, n_steps, 1).transpose(1, 2)  # (rows-n+1, n, features)
        self.target_windows = target_prices.unfold(0, horizon, 1)  # (rows-h+1, horizon)
        self.target_prices, self.codec, self.window_norm = target_prices, codec, window_norm
        self.n_steps, self.horizon = n_steps, horizon
        self.first_target_row, self.length = first_target_row, length

    def __len__(self) -> int:
        return self.length

    def target_rows(self) -> torch.Tensor:
        """Row of each window's first target, in window order."""
        return torch.arange(self.first_target_row, self.first_target_row + self.length)

    def _gather(self, index) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = self.first_target_row + torch.as_tensor(index)
        prices, anchor = self.target_windows[rows], self.target_prices[rows - 1]
        targets = prices if self.codec is None else self.codec.encode(prices, anchor)
        items = (normalize(self.input_windows[rows - self.n_steps], self.window_norm), targets, anchor)
        if self.window_norm != "revin":
            return items
        codec = self.codec or TargetCodec("level", 0.0, 1.0)  # no codec: the targets as stored
        return items + revin_statistics(self.target_prices, rows, 0, codec, self.n_steps, self.horizon)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not 0 <= i < self.length:
            raise IndexError(i)
        return self._gather(i)

    def __getitems__(self, indices) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # DataLoader calls this with a whole batch of indices: one gather, no per-sample collate.
        return self._gather(indices)

    def all_windows(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self._gather(torch.arange(self.length))


class PooledWindows(Dataset):
    """Several series' windows as one dataset: an item is (x, y, anchor, series index), with revin
    also the window's target statistics (as in WindowDataset).

    Each series' inputs and prices are laid end to end; a window is addressed by the row of its
    first target in that concatenation and only rows of its own series are ever valid first
    targets, so a window never reads another series. Targets are encoded with each window's own
    series' codec. One gather per batch, as in WindowDataset.

    Window i is the (i - first_window[k])-th window of series k, the series whose windows start
    at or before it: the datasets hold a few numbers per series, nothing per window (an index
    per window was 12 bytes of each of a large panel's millions).

    `end_to_end`: the parts' inputs and prices already concatenated in their order (a
    the DataModule keeps them so, see lay_end_to_end); without it they are concatenated here.
    """

    def __init__(self, parts: list[WindowDataset], series_index: list[int],
                 end_to_end: tuple[torch.Tensor, torch.Tensor] | None = None):
        first = parts[0]
        self.n_steps, self.horizon, self.window_norm = first.n_steps, first.horizon, first.window_norm
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
        self.series_start = torch.tensor(row_starts)  # each series' first row in the concatenation
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
        windows = normalize(self.input_windows[rows - self.n_steps], self.window_norm)
        items = (windows, targets, anchor, self.series_index[position])
        if self.window_norm != "revin":
            return items
        return items + revin_statistics(self.target_prices, rows, self.series_start[position],
                                        self.codec.select(position), self.n_steps, self.horizon)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return self._gather(i)

    def __getitems__(self, indices) -> tuple[torch.Tensor, ...]:
        return self._gather(indices)

    def all_windows(self) -> tuple[torch.Tensor, ...]:
        return self._gather(torch.arange(len(self)))


def target_history(target_prices: torch.Tensor, rows: torch.Tensor, series_start, n_steps: int,
                   horizon: int) -> torch.Tensor:
    """The target's prices on the horizon days before each window and on its n_steps input days,
    (windows, horizon + n_steps), for the windows whose first targets are `rows`; NaN on a day before
    its series' first row (series_start: that row, one per window or one for all), so that no window
    reads another series' prices, nor wraps around."""
    index = rows[:, None] + torch.arange(-(n_steps + horizon), 0)
    start = series_start[:, None] if isinstance(series_start, torch.Tensor) else series_start
    return target_prices[index.clamp_min(0)].masked_fill(index < start, float("nan"))


def revin_statistics(target_prices: torch.Tensor, rows: torch.Tensor, series_start, codec: TargetCodec,
                     n_steps: int, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """data.window_norm=revin: each window's target centre and spread per step (window_norm.py),
    from its own days only: the training, validation and test windows' and predict's last window."""
    return target_statistics(target_history(target_prices, rows, series_start, n_steps, horizon), codec, horizon)


def batch_parts(batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None, tuple | None]:
    """A batch (or item) as (x, y, anchor, series, norm). It is (x, y, anchor[, series][, centre,
    spread]): series from a pool of series (PooledWindows), None from a lone WindowDataset; norm
    revin's (centre, spread) per window and step, None without data.window_norm=revin."""
    x, y, anchor, *rest = batch
    series = rest[0] if len(rest) in (1, 3) else None
    norm = tuple(rest[-2:]) if len(rest) >= 2 else None
    return x, y, anchor, series, norm


def as_stored(windows: WindowDataset | PooledWindows) -> WindowDataset | PooledWindows:
    """The same windows without data.window_norm (a shallow copy: the tensors are shared)."""
    plain = copy.copy(windows)
    plain.window_norm = "none"
    return plain


class SlicedBatchSampler(BatchSampler):
    """BatchSampler that yields each batch as a slice of one index tensor.

    The stock BatchSampler builds a Python list of ints per batch and RandomSampler a list of
    every index per epoch: a visible cost per step at small batches and hundreds of MB for a
    series of millions of windows. The order is the same as theirs: RandomSampler's permutation
    (drawn the same way from the same seed) or plain time order. Any other sampler, such as the
    DistributedSampler Lightning puts in for DDP by re-creating this class, is read as it is.
    """

    def __iter__(self):
        yield from self.index_order().split(self.batch_size)[:len(self)]

    def index_order(self) -> torch.Tensor:
        sampler, n = self.sampler, len(self.sampler)
        if type(sampler) is RandomSampler and not sampler.replacement and n == len(sampler.data_source):
            generator = sampler.generator
            if generator is None:  # what RandomSampler.__iter__ does, so seeds give the same order
                generator = torch.Generator()
                generator.manual_seed(int(torch.empty((), dtype=torch.int64).random_().item()))
            return torch.randperm(n, generator=generator)
        if type(sampler) is SequentialSampler:
            return torch.arange(n)
        return torch.as_tensor(list(sampler), dtype=torch.int64)


def already_batched(batch):
    """collate_fn for a DataLoader over WindowDataset: __getitems__ already returns the batch."""
    return batch


class SplitIntoMinibatches:
    """collate_fn: one gathered (x, y, anchor) of several minibatches -> their list, in order."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size

    def __call__(self, batch):
        return list(zip(*(part.split(self.batch_size) for part in batch)))


def window_loader(dataset, batch_size: int, batches_per_step: int, shuffle: bool, collate_fn) -> DataLoader:
    """Batches of batches_per_step minibatches, read in one gather (see Forecaster)."""
    order = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
    batches = SlicedBatchSampler(order, batch_size * batches_per_step, drop_last=False)
    return DataLoader(dataset, batch_sampler=batches, collate_fn=collate_fn)


def on_device(batch, device: torch.device) -> bool:
    """Whether a loader's batch, (x, y, anchor, series) or a list of such minibatches, has every
    tensor on `device` already. The DataModule then hands it on as it is: Lightning's default
    transfer walks the batch (a training batch holds 16 minibatches) tensor by tensor and calls
    .to(), which returns the same tensor, a visible cost per step on the CPU."""
    if isinstance(batch, list):  # a training batch: its minibatches
        return all(isinstance(minibatch, tuple) and on_device(minibatch, device) for minibatch in batch)
    return isinstance(batch, tuple) and all(isinstance(t, torch.Tensor) and t.device == device for t in batch)
