"""Per-window normalization (data.window_norm): each input window scaled by its own statistics over
its steps, per feature, so that a window reads alike at any price level; with revin the network's
target too, by the statistics of the target's own history in the window, and its outputs mapped back."""

from __future__ import annotations

import torch

# none: the inputs as the scaler left them | standard: mean and standard deviation over the window's
# steps | robust: median and interquartile range (a jump day moves them less) | revin: the inputs as
# standard, and the target by target_statistics (reversible instance normalization, Kim et al. 2022).
WINDOW_NORMS = ("none", "standard", "robust", "revin")
# The smallest spread divided by. The inputs are scaled (data.scaler) to about unit size, and float32
# resolves about 1e-7 of that: a window flatter than 1e-6 (a constant feature, a halted price) is flat
# for every purpose, and dividing by its spread would blow rounding into inputs of order one. With the
# floor a flat window becomes zeros; and the floor is part of the statistics, so the normalization
# stays exactly invertible.
EPSILON = 1e-6


def window_statistics(windows: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Each window's centre and spread per feature: windows (..., n_steps, features) -> two tensors
    of shape (..., 1, features), the spread at least EPSILON."""
    if kind in ("standard", "revin"):
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
    return normalize_by(windows, *window_statistics(windows, kind))


def normalize_by(values: torch.Tensor, centre: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """Values scaled by given statistics: an input window by its own, revin's targets by theirs."""
    return (values - centre) / spread


def denormalize(normalized: torch.Tensor, centre: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """normalize_by's inverse, given the statistics it used."""
    return normalized * spread + centre


def target_statistics(history: torch.Tensor, codec, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """revin's centre and spread of each window's target, per step: history (windows, horizon + n_steps)
    holds the target's prices on the horizon days before the window and on its n_steps input days
    (NaN where the series has no such day; windows.target_history). Step j's statistics are the mean
    and standard deviation of what the codec makes of each input day's price measured j + 1 days
    back, as it encodes a window's step-j target from its anchor: the encoded prices themselves for
    level (the same for every step), the (j + 1)-day changes ending on the window's days for diff and
    log_return. Only days up to the window's last are read. Returns two (windows, horizon) tensors."""
    n_steps = history.shape[-1] - horizon
    days = history[..., horizon:]
    anchors = torch.stack([history[..., horizon - j - 1:horizon - j - 1 + n_steps] for j in range(horizon)], dim=-1)
    # The codec's own encode (prices (.., 1, 1) against anchors (.., horizon)): no second copy of it.
    values = codec.encode(days[..., None, None], anchors)[..., 0].expand(*days.shape, horizon)
    known = values.isfinite()  # a change from a day before the series began is NaN
    count = known.sum(dim=-2)
    values = torch.where(known, values, 0.0)
    centre = values.sum(dim=-2) / count.clamp_min(1)
    deviation = torch.where(known, values - centre[..., None, :], 0.0)
    spread = (deviation.pow(2).sum(dim=-2) / count.clamp_min(1)).sqrt().clamp_min(EPSILON)
    # Fewer than two known values (a series' first window with n_steps <= horizon) say nothing about
    # a spread: that step keeps the codec's units (centre of what there is, spread 1).
    return centre, torch.where(count < 2, torch.ones_like(spread), spread)


def mapped_back(values: torch.Tensor, norm: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """A readout of the network's outputs in revin's units, (windows, horizon) or (windows, horizon,
    levels), in the codec's units: denormalized by each window's and step's target_statistics. A
    positive spread keeps quantiles in order. norm None (no revin): the values as they are."""
    if norm is None:
        return values
    centre, spread = (t.to(values) for t in norm)
    if values.ndim > centre.ndim:  # quantiles: one statistic per step for every level
        centre, spread = centre[..., None], spread[..., None]
    return denormalize(values, centre, spread)
