"""Sliding windows as views over one in-memory series, addressed by the row of their first target.

Window r reads input rows [r - n_steps, r) and forecasts target rows [r, r + horizon). Nothing
materialises points x n_steps: `unfold` gives views and a batch gathers only its own windows.
"""

from __future__ import annotations

import torch
from torch.utils.data import BatchSampler, Dataset, RandomSampler, SequentialSampler

from stockrnn.data.targets import TargetCodec


class WindowDataset(Dataset):
    """Windows whose first target row runs over [first_target_row, first_target_row + len).

    An item is (inputs: n_steps x features, targets: horizon, anchor): the anchor is the target's
    last known price (the row before the first target), which persistence repeats and from which
    a change-type codec measures the targets. Without a codec, targets are returned as stored.
    """

    def __init__(self, inputs: torch.Tensor, target_prices: torch.Tensor, n_steps: int, horizon: int,
                 first_target_row: int, length: int, codec: TargetCodec | None = None):
        assert first_target_row >= n_steps and first_target_row + length + horizon - 1 <= len(target_prices)
        # inputs: rows x features; unfold adds the window axis last, hence the transpose.
        self.inputs = inputs
        self.input_windows = inputs.unfold(0, n_steps, 1).transpose(1, 2)  # (rows-n+1, n, features)
        self.target_windows = target_prices.unfold(0, horizon, 1)  # (rows-h+1, horizon)
        self.target_prices, self.codec = target_prices, codec
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
        return self.input_windows[rows - self.n_steps], targets, anchor

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not 0 <= i < self.length:
            raise IndexError(i)
        return self._gather(i)

    def __getitems__(self, indices) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # DataLoader calls this with a whole batch of indices: one gather, no per-sample collate.
        return self._gather(indices)

    def all_windows(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self._gather(torch.arange(self.length))


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
