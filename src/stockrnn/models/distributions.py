"""What the network's head means (model.distribution): a point (MSE), quantiles (pinball loss), or a
Gaussian (negative log-likelihood). The head is one linear layer either way; only the number of
outputs per step, the loss and how outputs become a point or quantiles change.

Everything here works on the scaled target (the transform's space); prices come from decoding each
quantile with the target codec, which is monotone, so decoded quantiles keep their order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

DISTRIBUTIONS = ("none", "quantile", "normal")
DEFAULT_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
# Keeps a Gaussian's scale away from 0, where the likelihood is unbounded.
MIN_SCALE = 1e-4
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def pinball(targets: torch.Tensor, quantiles: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Each quantile's pinball loss: targets (...), quantiles (..., levels) -> (..., levels)."""
    error = targets[..., None] - quantiles
    levels = levels.to(error.device, error.dtype)
    return torch.maximum(levels * error, (levels - 1) * error)


class PointForecast:
    """Today's forecaster: one output per step, MSE."""

    outputs_per_step = 1

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(outputs, targets)

    def point(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs


class QuantileForecast:
    """One output per level and step. The median's output is the median, like a point head's; the
    other levels lie a running sum of positive (softplus) steps above or below it, so they cannot
    cross whatever the weights and inputs, and an untrained head starts centred where a point
    head would."""

    def __init__(self, levels: Sequence[float]):
        self.levels = torch.tensor(list(levels), dtype=torch.float32)
        self.median_index = m = list(levels).index(0.5)
        self.outputs_per_step = k = len(levels)
        # The running sums as one product: level j adds step i (i between the median and j, the
        # median excluded) upwards above the median and downwards below it. One small matmul per
        # batch instead of slices, flips and two cumsums: the head stays as cheap as a point head.
        sums = torch.zeros(k, k)
        for j in range(k):
            for i in range(k):
                if m < i <= j:
                    sums[i, j] = 1.0
                elif j <= i < m:
                    sums[i, j] = -1.0
        self.sums = sums

    def quantiles(self, outputs: torch.Tensor) -> torch.Tensor:
        """(batch, horizon, levels) ascending along the last axis."""
        m = self.median_index
        sums = self.sums.to(outputs.device, outputs.dtype)
        return outputs[..., m:m + 1] + F.softplus(outputs) @ sums

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Pinball loss, averaged over levels, steps and windows."""
        return pinball(targets, self.quantiles(outputs), self.levels).mean()

    def point(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs[..., self.median_index]


class NormalForecast:
    """A mean and a positive scale per step; Gaussian negative log-likelihood."""

    outputs_per_step = 2

    def __init__(self, levels: Sequence[float]):
        self.levels = torch.tensor(list(levels), dtype=torch.float32)
        self.standard_quantiles = torch.special.ndtri(self.levels.double())

    @staticmethod
    def scale(outputs: torch.Tensor) -> torch.Tensor:
        return F.softplus(outputs[..., 1]) + MIN_SCALE

    def distribution(self, outputs: torch.Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(outputs[..., 0], self.scale(outputs))

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """-log N(target; mean, scale), averaged; written out rather than through a Normal, whose
        argument checks cost a visible share of a small network's step."""
        scale = self.scale(outputs)
        z = (targets - outputs[..., 0]) / scale
        return (0.5 * z * z + torch.log(scale)).mean() + HALF_LOG_2PI

    def point(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs[..., 0]

    def quantiles(self, outputs: torch.Tensor) -> torch.Tensor:
        """The distribution's own quantiles at the configured levels: (batch, horizon, levels)."""
        z = self.standard_quantiles.to(outputs.device, outputs.dtype)
        return outputs[..., :1] + self.scale(outputs)[..., None] * z


def forecast_kind(distribution: str = "none", quantiles: Sequence[float] = DEFAULT_QUANTILES):
    if distribution == "quantile":
        return QuantileForecast(quantiles)
    if distribution == "normal":
        return NormalForecast(quantiles)
    if distribution == "none":
        return PointForecast()
    raise ValueError(f"model.distribution='{distribution}' is not known; "
                     f"expected one of {', '.join(DISTRIBUTIONS)}")


def has_quantiles(kind) -> bool:
    return hasattr(kind, "quantiles")
