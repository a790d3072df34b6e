"""Callbacks the run itself needs (the user-configurable ones come from conf/callbacks).

EpochLog writes the fit into train.log; FitTimer times it; GcFreeze keeps the garbage collector's
full passes short; EpochLearningRate logs the learning rate per epoch; RandomState and RunCheckpoint
keep a resumed fit (ckpt_path=.../last.ckpt) on exactly the path of an uninterrupted one. A little
over 300 lines: RunCheckpoint's resume and copy rules are most of it, and they belong together.
The progress bar has its own file (progress_bar.py).
"""

from __future__ import annotations

import gc
import logging
import os
import random
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from weakref import proxy

import lightning as L
import numpy as np
import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint

log = logging.getLogger(__name__)
# The run's record: train.log only (conf/hydra/default.yaml keeps it off the console, where the
# progress bar and the result table already say it).
run_log = logging.getLogger("stockrnn.run_log")
EPOCH_METRICS = ("train/loss", "val/loss", "val/rmse", "val/crps")


class EpochLog(L.Callback):
    """One train.log line per epoch with its losses and learning rate, then how the fit ended.

    An epoch's line is written when the next epoch starts or the fit ends: the training loss is
    logged by the module's on_train_epoch_end, which runs after every other callback's.
    """

    def __init__(self):
        # 1-based epoch -> the metric the best checkpoint is chosen by (val/rmse, or val/crps).
        self.best_by_epoch: dict[int, float] = {}
        self.monitor = "val/rmse"
        self._pending: tuple[int, float | None] | None = None  # epoch (1-based) and its learning rate

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
        self._pending = (trainer.current_epoch + 1, lr)  # before the scheduler steps: this epoch's rate

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._write_pending(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self._write_pending(trainer)
        run_log.info(self.ending(trainer))

    def _write_pending(self, trainer) -> None:
        if self._pending is None:
            return
        epoch, lr = self._pending
        self._pending = None
        metrics = trainer.callback_metrics
        parts = [f"{name} {float(metrics[name]):.6g}" for name in EPOCH_METRICS if name in metrics]
        if lr is not None:
            parts.append(f"lr {lr:.3g}")
        checkpoint = trainer.checkpoint_callback
        self.monitor = checkpoint.monitor if checkpoint is not None and checkpoint.monitor else "val/rmse"
        if self.monitor in metrics:
            self.best_by_epoch[epoch] = float(metrics[self.monitor])
        run_log.info("epoch %d/%d: %s", epoch, trainer.max_epochs, ", ".join(parts))

    def ending(self, trainer) -> str:
        """How the fit ended (early stopping or the epoch limit) and its best epoch."""
        ran = trainer.current_epoch
        stopper = next((c for c in trainer.callbacks if isinstance(c, EarlyStopping)), None)
        if stopper is not None and stopper.stopped_epoch:
            patience = f"{stopper.patience} epoch{'s' if stopper.patience != 1 else ''}"
            how = f"early stopping: stopped after epoch {ran}, {stopper.monitor} not better for {patience}"
        else:
            how = f"ran {ran} epochs (trainer.max_epochs={trainer.max_epochs})"
        if not self.best_by_epoch:
            return how
        best = min(self.best_by_epoch, key=self.best_by_epoch.get)
        name = self.monitor.replace("/", "_")
        return f"{how}; best epoch {best} with {name} {self.best_by_epoch[best]:.6g} (its weights are tested)"

    def state_dict(self) -> dict:
        # Stored under its old name, so that checkpoints written before val/crps still resume.
        return {"val_rmse": dict(self.best_by_epoch)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best_by_epoch = {int(k): float(v) for k, v in state_dict["val_rmse"].items()}


class FitTimer(L.Callback):
    """Wall seconds of the fit: each epoch (training plus its validation), not set-up or testing,
    and the epochs it ran. metrics.json's train_seconds is their sum, so train_seconds / epochs
    is the benchmark's seconds per epoch.

    Stored in checkpoints, so a resumed run reports the seconds of both parts together. Both
    figures also go into trainer.callback_metrics: under ddp_spawn the fit runs in child
    processes, and callback_metrics is what Lightning sends back to the main process (the timer
    there never started, and its trainer's epoch counter stays at 0).
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
        # Runs after the epoch's validation and before the checkpoint callbacks (Lightning runs
        # those last), so last.ckpt holds this epoch's seconds too.
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

    def state_dict(self) -> dict:
        return {"epoch_seconds": list(self.epoch_seconds)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.epoch_seconds = [float(s) for s in state_dict["epoch_seconds"]]


class GcFreeze(L.Callback):
    """Keeps Python's garbage collector off the objects that exist when the fit starts.

    After its imports and set-up a run holds about 500,000 objects the collector tracks (torch,
    Lightning, Hydra, pandas). A full collection walks every one, about 0.3 s here, and the fit's
    own allocations set one off every hundred epochs or so, at an epoch no one can foresee: on a
    small-batch fit of 30 epochs, as much as all its other costs over a plain loop. gc.freeze()
    puts them out of the collector's reach for the fit (the fit's own objects are collected as
    before) and gc.unfreeze() hands them back when it ends, so any that became garbage meanwhile
    are collected then. Nothing is frozen when something else froze objects already.
    """

    def __init__(self):
        self._froze = False

    def on_fit_start(self, trainer, pl_module) -> None:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            self._froze = True

    def on_fit_end(self, trainer, pl_module) -> None:
        self._unfreeze()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._unfreeze()

    def _unfreeze(self) -> None:
        if self._froze:
            gc.unfreeze()
            self._froze = False


class EpochLearningRate(LearningRateMonitor):
    """Lightning's LearningRateMonitor, logging once per epoch at x = epoch like the losses
    (Lightning's puts it at the optimizer step)."""

    def __init__(self, **kwargs):
        super().__init__(logging_interval="epoch", **kwargs)

    def on_train_epoch_start(self, trainer, *args, **kwargs) -> None:
        stats = self._extract_stats(trainer, "any")
        if stats:
            for logger in trainer.loggers:
                logger.log_metrics(stats, step=trainer.current_epoch)


class RandomState(L.Callback):
    """Stores the random generators in each checkpoint and restores them on resume.

    The shuffled train loader draws each epoch's order from torch's global generator (and dropout
    its masks), so without this a resumed run would see other batches than an uninterrupted one.
    Kept as plain tensors, lists and ints: weights_only loading reads them.
    """

    def state_dict(self) -> dict:
        numpy_state = np.random.get_state()
        state = {"torch": torch.get_rng_state(), "python": random.getstate(),
                 "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]]}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        torch.set_rng_state(state_dict["torch"])
        version, internal, gauss_next = state_dict["python"]
        random.setstate((version, tuple(internal), gauss_next))
        kind, keys, *rest = state_dict["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint with two fixes for resuming a killed run, and one saving.

    - last.ckpt is written after every epoch. Lightning 2.6 writes it only in epochs that also save
      a top-k checkpoint, so with save_top_k=1 it was a copy of the best one, and a resumed run
      restarted from its best epoch instead of its last.
    - Resumed into a new run directory, it brings the best checkpoint along. Lightning forgets the
      best score when the directory changed, so the first epoch after resuming would become "best"
      whatever its score. We copy the best file into this run's directory and point the restored
      state at the copy; the old run's files stay untouched.
    - In an epoch with a new best, best.ckpt and then last.ckpt are written from the same state,
      byte for byte the same file (after the first epoch, which sets last_model_path). The second
      is a copy of the first rather than another dump and serialization of the whole trainer
      (about 4 ms, a few percent of a small-batch epoch): when nothing in the checkpoint can have
      changed, i.e. within one call of the saving hook and with this callback's own state as it was
      for the first file; one process, local files.
    """

    _written: tuple[str, dict] | None = None  # this hook call's last file and the state it holds
    _in_saving_hook = False

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        with self._saving_hook():
            super().on_train_epoch_end(trainer, pl_module)
            if self._should_save_on_train_epoch_end(trainer):
                self._save_last_every_epoch(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        with self._saving_hook():
            super().on_validation_end(trainer, pl_module)
            if not self._should_save_on_train_epoch_end(trainer):
                self._save_last_every_epoch(trainer)

    def _save_last_every_epoch(self, trainer) -> None:
        # Skipped when the parent just saved at this step (a new best, with last.ckpt beside it).
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    @contextmanager
    def _saving_hook(self):
        self._in_saving_hook, self._written = True, None
        try:
            yield
        finally:
            self._in_saving_hook, self._written = False, None

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        state = {key: dict(value) if isinstance(value, dict) else value for key, value in self.state_dict().items()}
        twin = self._written[0] if self._written and _same(self._written[1], state) else None
        if (twin is None or trainer.world_size != 1 or not isinstance(self._fs, LocalFileSystem)
                or not os.path.isfile(twin)):
            super()._save_checkpoint(trainer, filepath)
        else:  # what the parent does, with a copy for the dump
            _copy_atomically(twin, filepath)
            self._last_global_step_saved = trainer.global_step
            self._last_checkpoint_saved = filepath
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))
        if self._in_saving_hook:
            self._written = (filepath, state)

    def load_state_dict(self, state_dict: dict) -> None:
        old_dir = state_dict.get("dirpath")
        if self.dirpath and old_dir and Path(old_dir).resolve() != Path(self.dirpath).resolve():
            state_dict = self._moved_into_this_run(state_dict, Path(old_dir), Path(self.dirpath))
        super().load_state_dict(state_dict)

    @staticmethod
    def _moved_into_this_run(state: dict, old_dir: Path, new_dir: Path) -> dict:
        best = state.get("best_k_models", {})
        if not all(Path(path).is_file() for path in best):
            log.warning("the best checkpoint of %s is gone; this run's best.ckpt covers only the epochs "
                        "after resuming", old_dir)
            return state
        new_dir.mkdir(parents=True, exist_ok=True)

        def moved(path: str) -> str:
            # Only .ckpt files of the old checkpoint directory: the paths come from the checkpoint.
            if not path or Path(path).suffix != ".ckpt" or Path(path).parent.resolve() != old_dir.resolve():
                return path
            target = new_dir / Path(path).name
            if not target.exists():
                shutil.copy2(path, target)
            return str(target)

        # last_model_path stays: Lightning never deletes a file outside its own directory.
        return dict(state, dirpath=str(new_dir), best_k_models={moved(p): s for p, s in best.items()},
                    best_model_path=moved(state.get("best_model_path", "")),
                    kth_best_model_path=moved(state.get("kth_best_model_path", "")))


def _same(a, b) -> bool:
    """Equal checkpoint states: dicts, tensors (a score), paths and numbers."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and bool(torch.equal(a.cpu(), b.cpu()))
    return type(a) is type(b) and not isinstance(a, torch.Tensor) and a == b


def _copy_atomically(source: str, target: str) -> None:
    """A whole file or none at the target, as Lightning's own checkpoint writes."""
    partial = Path(target).with_name(f".{Path(target).name}.{os.getpid()}.partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
