"""Sliding windows as views over one in-memory series, addressed by the row of their first target.

Window r reads input rows [r - n_steps, r) and forecasts target rows [r, r + horizon). Nothing
materialises points x n_steps: `unfold` gives views and a batch gathers only its own windows.
"""

from __future__ import annotations

import torch
from torch.utils.data import BatchSampler, Dataset, RandomSampler, SequentialSampler


class WindowDataset(Dataset):
    """Windows whose first target row runs over [first_target_row, first_target_row + len)."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, n_steps: int, horizon: int,
                 first_target_row: int, length: int):
        assert first_target_row >= n_steps and first_target_row + length + horizon - 1 <= len(targets)
        # inputs: rows x features; targets: rows. unfold adds the window axis last, hence transpose.
        self.input_windows = inputs.unfold(0, n_steps, 1).transpose(1, 2)  # (rows-n+1, n, features)
        self.target_windows = targets.unfold(0, horizon, 1)  # (rows-h+1, horizon)
        self.n_steps, self.horizon = n_steps, horizon
        self.first_target_row, self.length = first_target_row, length

    def __len__(self) -> int:
        return self.length

    def target_rows(self) -> torch.Tensor:
        """Row of each window's first target, in window order."""
        return torch.arange(self.first_target_row, self.first_target_row + self.length)

    def _gather(self, index) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.first_target_row + torch.as_tensor(index)
        return self.input_windows[rows - self.n_steps], self.target_windows[rows]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < self.length:
            raise IndexError(i)
        return self._gather(i)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        # DataLoader calls this with a whole batch of indices: one gather, no per-sample collate.
        return self._gather(indices)


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
    """collate_fn: one gathered (x, y) of several minibatches -> their list, in order."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size

    def __call__(self, batch):
        x, y = batch
        return list(zip(x.split(self.batch_size), y.split(self.batch_size)))
