"""Callbacks the run itself needs (the user-configurable ones come from conf/callbacks)."""

from __future__ import annotations

import time

import lightning as L
import torch


class FitTimer(L.Callback):
    """Wall seconds of the fit loop (training and validation epochs, not set-up or testing) and
    the epochs it ran.

    Both also go into trainer.callback_metrics: under ddp_spawn the fit runs in child processes,
    and callback_metrics is what Lightning sends back to the main process (the timer there never
    started, and its trainer's epoch counter stays at 0).
    """

    SECONDS, EPOCHS = "fit/seconds", "fit/epochs"

    def __init__(self):
        self.seconds = 0.0
        self._started: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._started = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None
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
