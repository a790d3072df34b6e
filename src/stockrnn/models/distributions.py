"""What the network's head means (model.distribution): a point (MSE), quantiles (pinball loss), or a
Gaussian (negative log-likelihood). The head is one linear layer either way; only the number of
outputs per step, the loss and how outputs become a point or quantiles change.

Everything here works on the scaled target (the transform's space); prices come from decoding each
quantile with the target codec, which is monotone, so decoded quantiles keep their order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

DISTRIBUTIONS = ("none", "quantile", "normal")
DEFAULT_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
# Keeps a Gaussian's scale away from 0, where the likelihood is unbounded.
MIN_SCALE = 1e-4


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
        self.median_index = list(levels).index(0.5)
        self.outputs_per_step = len(levels)

    def quantiles(self, outputs: torch.Tensor) -> torch.Tensor:
        """(batch, horizon, levels) ascending along the last axis."""
        m = self.median_index
        median, steps = outputs[..., m:m + 1], F.softplus(outputs)
        above = median + torch.cumsum(steps[..., m + 1:], dim=-1)
        below = median - torch.cumsum(steps[..., :m].flip(-1), dim=-1).flip(-1)
        return torch.cat([below, median, above], dim=-1)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Pinball loss, averaged over levels, steps and windows."""
        return pinball(targets, self.quantiles(outputs), self.levels).mean()

    def point(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.quantiles(outputs)[..., self.median_index]


class NormalForecast:
    """A mean and a positive scale per step; Gaussian negative log-likelihood."""

    outputs_per_step = 2

    def __init__(self, levels: Sequence[float]):
        self.levels = torch.tensor(list(levels), dtype=torch.float32)

    def distribution(self, outputs: torch.Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(outputs[..., 0], F.softplus(outputs[..., 1]) + MIN_SCALE)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -self.distribution(outputs).log_prob(targets).mean()

    def point(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs[..., 0]

    def quantiles(self, outputs: torch.Tensor) -> torch.Tensor:
        """The distribution's own quantiles at the configured levels: (batch, horizon, levels)."""
        normal = self.distribution(outputs)
        levels = self.levels.to(outputs.device, outputs.dtype)
        return normal.loc[..., None] + normal.scale[..., None] * torch.special.ndtri(levels)


def forecast_kind(distribution: str = "none", quantiles: Sequence[float] = DEFAULT_QUANTILES):
    if distribution == "quantile":
        return QuantileForecast(quantiles)
    if distribution == "normal":
        return NormalForecast(quantiles)
    if distribution == "none":
        return PointForecast()
    raise ValueError(f"model.distribution='{distribution}' is not known; expected one of {', '.join(DISTRIBUTIONS)}")


def has_quantiles(kind) -> bool:
    return hasattr(kind, "quantiles")
