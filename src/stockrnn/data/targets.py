"""What the network learns about the target: its level, its change, or its log return from the
last known value, scaled. Every reported figure is decoded back to price units with this."""

from __future__ import annotations

from dataclasses import dataclass

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
    """

    transform: str
    offset: float
    scale: float

    @classmethod
    def fit(cls, transform: str, scaler_kind: str, train_prices: np.ndarray) -> "TargetCodec":
        """Fit on the target over training rows only."""
        scaler = Scaler.fit(scaler_kind, one_step_changes(train_prices, transform)[:, None])
        return cls(transform, scaler.offset[0], scaler.scale[0])

    def encode(self, prices, anchor):
        anchor = anchor[..., None]
        if self.transform == "level":
            value = prices
        elif self.transform == "diff":
            value = prices - anchor
        else:
            value = _log(prices / anchor)
        return (value - self.offset) / self.scale

    def decode(self, encoded, anchor):
        value = encoded * self.scale + self.offset
        anchor = anchor[..., None]
        if self.transform == "level":
            return value
        if self.transform == "diff":
            return anchor + value
        return anchor * _exp(value)

    def to_dict(self) -> dict:
        return {"transform": self.transform, "offset": self.offset, "scale": self.scale}


def _log(values):
    return torch.log(values) if isinstance(values, torch.Tensor) else np.log(values)


def _exp(values):
    return torch.exp(values) if isinstance(values, torch.Tensor) else np.exp(values)
