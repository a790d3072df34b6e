"""The run's progress bar (conf/callbacks' progress_bar): Lightning's rich bar, quieter and cheaper."""

from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.callbacks.progress import rich_progress


class ProgressBar(RichProgressBar):
    """Lightning's rich progress bar without `v_num` (the logger's version, here the run's
    overrides cut to a few characters, "ed=0", which says nothing), and cheaper:

    - On a console that is not a terminal (a pipe, a log file, a benchmark) rich draws nothing
      until the bar stops, yet every redraw rebuilt the bar's table (about 1% of a small-batch
      fit): such redraws are skipped, and so is reading the metrics after every batch (the
      epoch's end reads them). The final bar is still printed when it stops.
    - Lightning's refresh thread sleeps 1 / refresh_rate seconds between redraws and cannot be
      woken, so stopping the bar at the end of every fit waited out the sleep (50 ms on average
      at 10 redraws a second). Ours waits on its stop event instead.
    """

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics

    def _init_progress(self, trainer) -> None:
        # Lightning's _init_progress makes its CustomProgress, and that its refresh thread, from
        # these module-level names of lightning's rich_progress: ours for the call.
        names = {"CustomProgress": _Progress, "_RefreshThread": _PromptRefreshThread}
        lightning_classes = {name: getattr(rich_progress, name) for name in names}
        vars(rich_progress).update(names)
        try:
            super()._init_progress(trainer)
        finally:
            vars(rich_progress).update(lightning_classes)

    def refresh(self, hard: bool = False) -> None:
        if self.progress is None or _draws(self.progress.console):
            super().refresh(hard)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self.progress is None or self.train_progress_bar_id is None or _draws(self.progress.console):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        else:  # the count only: the metrics change at the epoch's end, which reads them
            self._update(self.train_progress_bar_id, batch_idx + 1)


def _draws(console) -> bool:
    """Whether rich draws a live display on this console before it stops (rich.live.Live.refresh)."""
    return console.is_jupyter or (console.is_terminal and not console.is_dumb_terminal)


if hasattr(rich_progress, "CustomProgress"):  # Lightning defines them when rich is installed
    class _Progress(rich_progress.CustomProgress):
        """Redraws (rich's own, as a task is added or reset) only where they are drawn."""

        def refresh(self) -> None:
            if _draws(self.console):
                super().refresh()

    class _PromptRefreshThread(rich_progress._RefreshThread):
        """Lightning's refresh thread, waiting on its stop event instead of sleeping: it ends as
        soon as the bar stops."""

        def run(self) -> None:
            while not self.done.wait(1 / self.refresh_per_second):
                if self.refresh_cond:
                    with self.live._lock:
                        self.live.refresh()
                    self.refresh_cond = False
