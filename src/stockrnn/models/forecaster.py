"""The LightningModule: MSE on scaled targets, epoch-level logging, optimizer from config."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from torch import nn

from stockrnn.errors import TrainingDiverged
from stockrnn.models.network import RecurrentNetwork


class Forecaster(L.LightningModule):
    def __init__(self, n_features: int, horizon: int = 1, cell: str = "lstm", hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False,
                 nonlinearity: str = "tanh", price_scale: float = 1.0,
                 optimizer: Callable | None = None, scheduler: Callable | None = None):
        super().__init__()
        # Plain numbers only: a checkpoint rebuilds the network from these, without pickled objects.
        # logger=False: the resolved run config is logged once, with the final metrics.
        self.save_hyperparameters(ignore=["optimizer", "scheduler"], logger=False)
        self.network = RecurrentNetwork(n_features, horizon, cell, hidden_size, num_layers, dropout,
                                        bidirectional, nonlinearity)
        self.optimizer_factory = optimizer or torch.optim.Adam
        self.scheduler_factory = scheduler
        self.loss_fn = nn.MSELoss()
        # Losses are summed on the device and logged once per epoch: per-step self.log is the
        # largest fixed cost of a small-batch epoch (see the performance notes).
        self._train_sum, self._train_batches = torch.zeros(()), 0
        self._val_sse, self._val_count = torch.zeros(()), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self._train_sum = self._train_sum.to(loss.device) + loss.detach()
        self._train_batches += 1
        return loss

    def on_train_epoch_end(self) -> None:
        if self._train_batches:
            self._stop_if_diverged(self._train_sum, "training")
            self.log("train/loss", self._train_sum / self._train_batches, sync_dist=True)
        self._train_sum, self._train_batches = torch.zeros((), device=self.device), 0

    def on_validation_epoch_start(self) -> None:
        # The training loss is known here: name it, rather than the validation loss it ruins next.
        if self._train_batches and not self.trainer.sanity_checking:
            self._stop_if_diverged(self._train_sum, "training")

    def validation_step(self, batch, batch_idx) -> None:
        x, y = batch
        error = self(x) - y
        self._val_sse = self._val_sse.to(error.device) + error.pow(2).sum().detach()
        self._val_count += error.numel()

    def on_validation_epoch_end(self) -> None:
        if self._val_count:
            mse = self._val_sse / self._val_count
            if not self.trainer.sanity_checking:
                self._stop_if_diverged(mse, "validation")
            self.log("val/loss", mse, sync_dist=True)
            # A linear scaler makes a price error the scaled error times the target's scale.
            self.log("val/rmse", mse.sqrt() * self.hparams.price_scale, sync_dist=True, prog_bar=True)
        self._val_sse, self._val_count = torch.zeros((), device=self.device), 0

    def _stop_if_diverged(self, loss: torch.Tensor, which: str) -> None:
        """Checked once per epoch on the summed loss: a per-step check would sync the device each step."""
        if torch.isfinite(loss):
            return
        lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self.trainer.optimizers else None
        raise TrainingDiverged(
            f"the {which} loss became {loss.item()} in epoch {self.current_epoch + 1}; try a lower "
            f"learning rate (model.optimizer.lr, now {lr}) or gradient clipping "
            f"(trainer.gradient_clip_val, now {self.trainer.gradient_clip_val})")

    def predict_step(self, batch, batch_idx) -> torch.Tensor:
        x, _ = batch
        return self(x)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {
            "scheduler": self.scheduler_factory(optimizer=optimizer), "monitor": "val/loss",
            "interval": "epoch"}}
