"""Callbacks the run itself needs (the user-configurable ones come from conf/callbacks)."""

from __future__ import annotations

import time

import lightning as L


class FitTimer(L.Callback):
    """Wall seconds of the fit: each epoch (training plus its validation), not set-up or testing.

    metrics.json's train_seconds is their sum, so train_seconds / epochs is the benchmark's
    seconds per epoch.
    """

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
