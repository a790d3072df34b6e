"""Callbacks the run itself needs (the user-configurable ones come from conf/callbacks)."""

from __future__ import annotations

import time

import lightning as L


class FitTimer(L.Callback):
    """Wall seconds of the fit loop: training and validation epochs, not set-up or testing."""

    def __init__(self):
        self.seconds = 0.0
        self._started: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._started = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None
