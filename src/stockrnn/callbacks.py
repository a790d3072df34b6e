"""Callbacks the run itself needs (the user-configurable ones come from conf/callbacks)."""

from __future__ import annotations

import time

import lightning as L
import torch


class FitTimer(L.Callback):
    """Wall seconds of the fit: each epoch (training plus its validation), not set-up or testing,
    and the epochs it ran. metrics.json's train_seconds is their sum, so train_seconds / epochs
    is the benchmark's seconds per epoch.

    Both also go into trainer.callback_metrics: under ddp_spawn the fit runs in child processes,
    and callback_metrics is what Lightning sends back to the main process (the timer there never
    started, and its trainer's epoch counter stays at 0).
    """

    SECONDS, EPOCHS = "fit/seconds", "fit/epochs"

    def __init__(self):
        self.epoch_seconds: list[float] = []
        self._epoch_started: float | None = None

    @property
    def seconds(self) -> float:
        return sum(self.epoch_seconds)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # Runs after the epoch's validation loop and checkpointing, so both are counted.
        if self._epoch_started is not None:
            self.epoch_seconds.append(time.perf_counter() - self._epoch_started)
            self._epoch_started = None

    def on_train_end(self, trainer, pl_module) -> None:
        trainer.callback_metrics[self.SECONDS] = torch.tensor(self.seconds, dtype=torch.float64)
        trainer.callback_metrics[self.EPOCHS] = torch.tensor(trainer.current_epoch)

    @classmethod
    def results(cls, trainer: L.Trainer) -> dict:
        """`epochs` and `train_seconds` of the fit, in whichever process it ran."""
        metrics = trainer.callback_metrics
        epochs, seconds = metrics.get(cls.EPOCHS), metrics.get(cls.SECONDS)
        # Absent when the fit had nothing to do (a resumed run already at max_epochs).
        return {"epochs": trainer.current_epoch if epochs is None else int(epochs),
                "train_seconds": 0.0 if seconds is None else float(seconds)}
