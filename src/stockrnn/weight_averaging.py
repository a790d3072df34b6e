"""An exponential moving average of the weights, validated, checkpointed and tested in their place."""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import WeightAveraging

from stockrnn.errors import StockrnnError


class ExponentialWeightAveraging(WeightAveraging):
    """Lightning's WeightAveraging with an EMA whose decay is given per optimizer step.

    Lightning swaps the average in for validation (so early stopping and the best checkpoint
    judge the average), saves it as the checkpoint's weights and leaves it in the module when
    the fit ends. It updates once per Lightning step, which here is data.batches_per_step
    optimizer steps (see Forecaster); the decay is therefore raised to the number of optimizer
    steps since the last update, so that the average remembers about 1 / (1 - decay) optimizer
    steps whatever data.batches_per_step is.
    """

    def __init__(self, decay: float = 0.998):
        if not 0 < decay < 1:
            raise StockrnnError(f"callbacks.weight_averaging.decay={decay}: expected a number between 0 and 1")
        super().__init__(avg_fn=self._moving_average)
        self.decay = decay
        self._steps_since_update = 1

    def _moving_average(self, average: torch.Tensor, current: torch.Tensor, num_averaged) -> torch.Tensor:
        kept = self.decay ** self._steps_since_update
        return kept * average + (1 - kept) * current

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._steps_since_update = max(trainer.global_step - self._latest_update_step, 1)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
