"""An exponential moving average of the weights, validated, checkpointed and tested in their place."""

from __future__ import annotations

import math

import torch
from lightning.pytorch.callbacks import WeightAveraging

from stockrnn.errors import StockrnnError


class ExponentialWeightAveraging(WeightAveraging):
    """Lightning's WeightAveraging with an EMA whose decay is given per optimizer step.

    Lightning swaps the average in for validation (so early stopping and the best checkpoint
    judge the average), saves it as the checkpoint's weights and leaves it in the module when
    the fit ends. It updates once per Lightning step, which here is data.batches_per_step
    optimizer steps (see Forecaster); the old average therefore keeps the product of the decays
    of the optimizer steps since the last update, so that the average remembers about
    1 / (1 - decay) optimizer steps whatever data.batches_per_step is.

    The decay of optimizer step t is min(decay, (1 + t) / (10 + t)), the warm-up of TensorFlow's
    and timm's moving averages: without it the first steps' weights, barely trained, keep a
    share of 0.998 ** t of the average (a fifth after 12 epochs of Mastercard), early stopping
    judges that blend, and a run could stop near persistence while its weights were improving.
    """

    def __init__(self, decay: float = 0.998):
        if not 0 < decay < 1:
            raise StockrnnError(f"callbacks.weight_averaging.decay={decay}: expected a number between 0 and 1")
        super().__init__(avg_fn=self._moving_average)
        self.decay = decay
        self._kept = decay  # the old average's share in the update about to be made

    def decay_at(self, step: int) -> float:
        """The decay of optimizer step `step` (1 for the first), warm-up included."""
        return min(self.decay, (1 + step) / (10 + step))

    def kept_share(self, last_update_step: int, step: int) -> float:
        """What the average of step last_update_step keeps after the optimizer steps up to `step`."""
        return math.prod(self.decay_at(t) for t in range(last_update_step + 1, step + 1))

    def _moving_average(self, average: torch.Tensor, current: torch.Tensor, num_averaged) -> torch.Tensor:
        return self._kept * average + (1 - self._kept) * current

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._kept = self.kept_share(self._latest_update_step, trainer.global_step)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
