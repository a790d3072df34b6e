"""What the network learns about the target: its level, its change, or its log return from the
last known value, scaled. Every reported figure is decoded back to price units with this."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from stockrnn.data.scaling import Scaler

TRANSFORMS = ("level", "diff", "log_return")


def one_step_changes(prices: np.ndarray, transform: str) -> np.ndarray:
    """The transformed one-day-ahead values of a price series: what the target scaler is fit on."""
    if transform == "level":
        return prices
    if transform == "diff":
        return prices[1:] - prices[:-1]
    return np.log(prices[1:] / prices[:-1])


@dataclass(frozen=True)
class TargetCodec:
    """prices <-> scaled transformed values, given each window's last known price (its anchor).

    Works on torch tensors and numpy arrays alike; prices are (windows, horizon), anchors (windows,).
    A panel's codec (see datamodule.py) holds one offset and scale per series: `select` gives the
    codec of each window's series.
    """

    transform: str
    offset: float | tuple[float, ...]
    scale: float | tuple[float, ...]

    @classmethod
    def fit(cls, transform: str, scaler_kind: str, train_prices: np.ndarray) -> TargetCodec:
        """Fit on the target over training rows only."""
        scaler = Scaler.fit(scaler_kind, one_step_changes(train_prices, transform)[:, None])
        return cls(transform, scaler.offset[0], scaler.scale[0])

    @classmethod
    def stack(cls, codecs: list[TargetCodec]) -> TargetCodec:
        """One codec for a panel: the series' codecs, addressed by series index. One series' codec as
        it is: scalars, whose arithmetic a one-element tensor would not repeat to the last bit."""
        if len(codecs) == 1:
            return codecs[0]
        return cls(codecs[0].transform, tuple(c.offset for c in codecs), tuple(c.scale for c in codecs))

    @cached_property
    def _per_series(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A panel's offsets and scales as tensors, made once rather than in every batch."""
        return torch.tensor(self.offset, dtype=torch.float32), torch.tensor(self.scale, dtype=torch.float32)

    def select(self, series: torch.Tensor) -> TargetCodec:
        """The codec of each window's series (series: windows, an index into a panel's series): an
        offset and scale per window; a one-series codec as it is."""
        if not isinstance(self.offset, tuple):
            return self
        offset, scale = (values.to(series.device)[series] for values in self._per_series)
        return TargetCodec(self.transform, offset, scale)

    def encode(self, prices, anchor):
        anchor = anchor[..., None]
        if self.transform == "level":
            value = prices
        elif self.transform == "diff":
            value = prices - anchor
        else:
            value = _log(prices / anchor)
        return (value - _per_window(self.offset, value)) / _per_window(self.scale, value)

    def decode(self, encoded, anchor):
        value = encoded * _per_window(self.scale, encoded) + _per_window(self.offset, encoded)
        anchor = anchor[..., None]
        if self.transform == "level":
            return value
        if self.transform == "diff":
            return anchor + value
        return anchor * _exp(value)

    def to_dict(self) -> dict:
        plain = (lambda v: list(v)) if isinstance(self.offset, tuple) else float
        return {"transform": self.transform, "offset": plain(self.offset), "scale": plain(self.scale)}

    @classmethod
    def from_dict(cls, state: dict) -> TargetCodec:
        as_stored = (lambda v: tuple(map(float, v))) if isinstance(state["offset"], (list, tuple)) else float
        return cls(state["transform"], as_stored(state["offset"]), as_stored(state["scale"]))


def _per_window(parameter, like):
    """A selected codec's per-window offset or scale, shaped to broadcast over `like`'s later axes."""
    if isinstance(parameter, float):
        return parameter
    return parameter.reshape(parameter.shape + (1,) * (like.ndim - 1))


def _log(values):
    return torch.log(values) if isinstance(values, torch.Tensor) else np.log(values)


def _exp(values):
    return torch.exp(values) if isinstance(values, torch.Tensor) else np.exp(values)
