"""Per-window normalization of the network's inputs (data.window_norm): each input window scaled by
its own statistics over its steps, per feature, so that a window reads alike at any price level.
Inputs only: the targets stay as the target codec encodes them, so no output is mapped back."""

from __future__ import annotations

import torch

# none: the inputs as the scaler left them | standard: mean and standard deviation over the window's
# steps | robust: median and interquartile range (a jump day moves them less).
WINDOW_NORMS = ("none", "standard", "robust")
# The smallest spread divided by. The inputs are scaled (data.scaler) to about unit size, and float32
# resolves about 1e-7 of that: a window flatter than 1e-6 (a constant feature, a halted price) is flat
# for every purpose, and dividing by its spread would blow rounding into inputs of order one. With the
# floor a flat window becomes zeros; and the floor is part of the statistics, so the normalization
# stays exactly invertible.
EPSILON = 1e-6


def window_statistics(windows: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Each window's centre and spread per feature: windows (..., n_steps, features) -> two tensors
    of shape (..., 1, features), the spread at least EPSILON."""
    if kind == "standard":
        centre = windows.mean(dim=-2, keepdim=True)
        spread = windows.std(dim=-2, correction=0, keepdim=True)
    elif kind == "robust":
        # From one sort: torch.quantile refuses inputs of more than 2**24 numbers (a panel's windows).
        ordered = windows.sort(dim=-2).values
        centre = _quantile(ordered, 0.5)
        spread = _quantile(ordered, 0.75) - _quantile(ordered, 0.25)
    else:
        raise ValueError(f"window_statistics: {kind!r} is not one of {', '.join(WINDOW_NORMS[1:])}")
    return centre, spread.clamp_min(EPSILON)


def _quantile(ordered: torch.Tensor, level: float) -> torch.Tensor:
    """The `level` quantile of values sorted along dim -2, interpolated linearly (torch.quantile's)."""
    position = level * (ordered.shape[-2] - 1)
    low = int(position)
    high = min(low + 1, ordered.shape[-2] - 1)
    below, above = ordered[..., low:low + 1, :], ordered[..., high:high + 1, :]
    return below + (above - below) * (position - low)


def normalize(windows: torch.Tensor, kind: str) -> torch.Tensor:
    """The network's input windows (..., n_steps, features), each scaled by its own statistics; with
    `none` the very same tensor, untouched (no float operation, so results stay as without it)."""
    if kind == "none":
        return windows
    centre, spread = window_statistics(windows, kind)
    return (windows - centre) / spread


def denormalize(normalized: torch.Tensor, centre: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """normalize's inverse, given the window_statistics it used."""
    return normalized * spread + centre
