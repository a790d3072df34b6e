"""The LightningModule: MSE (or a distribution's loss) on scaled targets, several minibatch updates
per Lightning step, epoch-level logging, optimizer and scheduler from config."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import numpy as np
import torch
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch.optim.lr_scheduler import ReduceLROnPlateau

from stockrnn.models.calibration import conformal_offsets
from stockrnn.models.combination import weights_from_sums
from stockrnn.data.targets import TargetCodec
from stockrnn.data.window_norm import mapped_back, normalize_by
from stockrnn.data.windows import batch_parts
from stockrnn.errors import TrainingDiverged
from stockrnn.models.distributions import DEFAULT_QUANTILES, forecast_kind, has_quantiles, pinball
from stockrnn.models.network import RecurrentNetwork

# What Lightning's manual_backward and optimizer.step() add to loss.backward() and the optimizer's
# own step on one device in 32-bit precision: these hooks of every callback and of the module.
UPDATE_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


class Forecaster(L.LightningModule):
    def __init__(self, n_features: int, horizon: int = 1, cell: str = "lstm", hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False,
                 nonlinearity: str = "tanh", target_codec: dict | None = None,
                 gradient_clip_val: float | None = None, gradient_clip_algorithm: str = "norm",
                 optimizer: Callable | None = None, scheduler: Callable | None = None,
                 distribution: str = "none", quantiles: Sequence[float] = DEFAULT_QUANTILES,
                 calibration: str = "none", n_series: int = 1, series_embedding: int = 0,
                 combination: str = "none"):
        super().__init__()
        # Plain numbers only: a checkpoint rebuilds the network from these, without pickled objects.
        # logger=False: the resolved run config is logged once, with the final metrics.
        self.save_hyperparameters(ignore=["optimizer", "scheduler"], logger=False)
        # What the outputs mean, and the loss (models/distributions.py).
        self.kind = forecast_kind(distribution, quantiles)
        self.network = RecurrentNetwork(n_features, horizon, cell, hidden_size, num_layers, dropout,
                                        bidirectional, nonlinearity, self.kind.outputs_per_step,
                                        n_series, series_embedding)
        # Decodes outputs to prices for val/rmse; the identity when the module is used bare.
        self.codec = TargetCodec.from_dict(target_codec or {"transform": "level", "offset": 0.0, "scale": 1.0})
        self.optimizer_factory = optimizer or torch.optim.Adam
        self.scheduler_factory = scheduler
        # Lightning's fixed cost per step (hooks, loop bookkeeping, the optimizer closure) is most
        # of a small-batch epoch. A training "batch" is therefore a list of minibatches (see
        # data.batches_per_step), each still one optimizer step: the same updates in the same
        # order as one minibatch per step, at a fraction of the overhead. Clipping is ours too,
        # as Lightning only clips under automatic optimization.
        self.automatic_optimization = False
        self._direct = False  # whether those steps skip Lightning's per-minibatch hooks (on_train_start)
        # Losses are summed on the device and logged once per epoch: per-step self.log is the
        # other large fixed cost (see the performance notes).
        self._train_sum, self._train_batches = torch.zeros(()), 0
        # Summed over the epoch's targets: the loss, squared price errors, price CRPS (distributions).
        self._val_sums, self._val_count = torch.zeros(3), 0
        # A panel's: per series, the squared price errors of the network and of persistence, and the
        # targets, for val/objective (the mean over series of RMSE relative to persistence's).
        self._series_sums: torch.Tensor | None = None
        # model.calibration=conformal: the shifts fit on this epoch's validation windows, saved
        # with the checkpoint of the weights they were fit for (see calibration.py).
        self.conformal_offsets: np.ndarray | None = None
        self._val_quantiles: list[tuple[torch.Tensor, torch.Tensor]] = []
        # model.combination=persistence: the weights of persistence's combination with this epoch's
        # forecasts (series x horizon), fit on its validation windows and saved with the checkpoint
        # of the weights they were fit for, like the conformal shifts (see combination.py). Training,
        # val/rmse and the checkpoint's choice are the network's own.
        self.combination_weights: np.ndarray | None = None
        self._combination_sums: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        return self.network(x, series)

    # data.window_norm=revin: the network learns each window's target normalized by that window's
    # statistics (norm), and every readout of its outputs is mapped back to the codec's units before
    # anything decodes, scores or calibrates it. Without revin norm is None and both are the identity.
    @staticmethod
    def network_target(y: torch.Tensor, norm: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        return y if norm is None else normalize_by(y, *norm)

    def point(self, outputs: torch.Tensor, norm: tuple | None = None) -> torch.Tensor:
        """The point forecast (windows, horizon) in the codec's units."""
        return mapped_back(self.kind.point(outputs), norm)

    def quantiles(self, outputs: torch.Tensor, norm: tuple | None = None) -> torch.Tensor:
        """A distribution's quantiles (windows, horizon, levels) in the codec's units."""
        return mapped_back(self.kind.quantiles(outputs), norm)

    def training_step(self, minibatches: list[tuple[torch.Tensor, ...]], batch_idx: int) -> None:
        """Each minibatch: (x, y, anchor, series[, centre, spread]), see windows.batch_parts."""
        optimizer = self.optimizers()
        clip = self.hparams.gradient_clip_val
        direct = self._direct
        total = self._train_sum.to(self.device)
        for minibatch in minibatches:
            x, y, _, series, norm = batch_parts(minibatch)
            loss = self.kind.loss(self(x, series), self.network_target(y, norm))
            optimizer.zero_grad()
            if direct:
                loss.backward()
            else:
                self.manual_backward(loss)
            if clip:
                self.clip_gradients(optimizer, gradient_clip_val=clip,
                                    gradient_clip_algorithm=self.hparams.gradient_clip_algorithm)
            if direct:  # LightningOptimizer.step less the hooks no one listens to
                optimizer._on_before_step()  # Lightning's step counter (trainer.global_step)
                optimizer.optimizer.step()
                optimizer._on_after_step()
            else:
                optimizer.step()
            total = total + loss.detach()
            self._train_batches += 1
        self._train_sum = total

    def on_train_start(self) -> None:
        self._direct = self._direct_updates()  # once per fit: the callbacks are set by then

    def _direct_updates(self) -> bool:
        """Whether backward and the optimizer step may skip Lightning's wrappers: their hooks run
        for every minibatch (hundreds per epoch of a small-batch fit, each a call on every callback),
        a visible share of the epoch. Only where the wrappers do nothing else (one device, 32-bit
        precision, no profiler) and no callback and not the module listens to the hooks: the same
        arithmetic, the same step count (trainer.global_step), fewer Python calls."""
        trainer = self.trainer
        if (type(trainer.strategy) is not SingleDeviceStrategy or type(trainer.precision_plugin) is not Precision
                or type(trainer.profiler) is not PassThroughProfiler or is_overridden("backward", self)):
            return False
        return not any(is_overridden(hook, listener) for hook in UPDATE_HOOKS
                       for listener in (self, *trainer.callbacks))

    def on_train_epoch_end(self) -> None:
        if self._train_batches:
            self._stop_if_diverged(self._train_sum, "training")
            self.log("train/loss", self._train_sum / self._train_batches, sync_dist=True)
            self._epoch_is_the_step()
        self._train_sum, self._train_batches = torch.zeros((), device=self.device), 0
        self._step_scheduler()

    def _step_scheduler(self) -> None:
        """Under manual optimization Lightning leaves scheduler steps to us: once per epoch."""
        scheduler = self.lr_schedulers()
        if scheduler is None:
            return
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(self.trainer.callback_metrics["val/loss"])
        else:
            scheduler.step()

    def on_validation_epoch_start(self) -> None:
        # The training loss is known here: name it, rather than the validation loss it ruins next.
        if self._train_batches and not self.trainer.sanity_checking:
            self._stop_if_diverged(self._train_sum, "training")

    def validation_step(self, batch, batch_idx) -> None:
        x, y, anchor, series, norm = batch_parts(batch)
        outputs = self(x, series)
        codec = self.codec.select(series) if series is not None else self.codec  # a panel's: each window's series
        actual = codec.decode(y, anchor)
        price_error = codec.decode(self.point(outputs, norm), anchor) - actual
        crps = (self.price_crps(codec, outputs, actual, anchor, norm) if has_quantiles(self.kind)
                else torch.zeros((), device=y.device))
        loss = self.kind.loss(outputs, self.network_target(y, norm))
        sums = torch.stack([loss * y.numel(), price_error.pow(2).sum(), crps]).detach()
        self._val_sums = self._val_sums.to(sums.device) + sums
        self._val_count += y.numel()
        if series is not None and not has_quantiles(self.kind):  # a panel's point forecast: its val/objective
            self._add_series_sums(series, price_error, anchor[:, None] - actual)
        if self.hparams.get("combination", "none") == "persistence":
            self._add_combination_sums(codec, outputs, norm, y, anchor, series)
        if self.hparams.calibration == "conformal":  # in the codec's units, as the shifts are applied
            self._val_quantiles.append((self.quantiles(outputs, norm).detach().cpu(), y.detach().cpu()))

    def _add_series_sums(self, series: torch.Tensor, price_error: torch.Tensor,
                         persistence_error: torch.Tensor) -> None:
        per_window = torch.stack([price_error.pow(2).sum(dim=1), persistence_error.pow(2).sum(dim=1),
                                  torch.full_like(price_error[:, 0], price_error.shape[1])], dim=1).detach()
        if self._series_sums is None:
            self._series_sums = torch.zeros(self.hparams.n_series, 3, device=per_window.device)
        self._series_sums.index_add_(0, series, per_window)

    def _add_combination_sums(self, codec: TargetCodec, outputs: torch.Tensor, norm, y: torch.Tensor,
                              anchor: torch.Tensor, series: torch.Tensor | None) -> None:
        """Per series and step, sum((y - p)(f - p)) and sum((f - p)^2) in price units (p: persistence,
        the anchor; f: the network's point forecast), decoded in float64 where the device has it: f - p
        is small beside a price, and float32 would keep few of its digits."""
        dtype = torch.float32 if y.device.type == "mps" else torch.float64
        anchor = anchor.to(dtype)
        signal = codec.decode(self.point(outputs, norm).detach().to(dtype), anchor) - anchor[:, None]
        target = codec.decode(y.to(dtype), anchor) - anchor[:, None]
        if self._combination_sums is None:
            self._combination_sums = torch.zeros(2, self.hparams.n_series, y.shape[1], dtype=dtype, device=y.device)
        index = series if series is not None else torch.zeros(len(y), dtype=torch.int64, device=y.device)
        self._combination_sums[0].index_add_(0, index, target * signal)
        self._combination_sums[1].index_add_(0, index, signal.pow(2))

    def _log_series_objective(self) -> None:
        """val/objective: each series' validation RMSE over persistence's, averaged over series."""
        sums = self._summed_over_processes(self._series_sums)
        seen = (sums[:, 2] > 0) & (sums[:, 1] > 0)
        self.log("val/objective", (sums[seen, 0] / sums[seen, 1]).sqrt().mean(), sync_dist=True, prog_bar=True)
        self._series_sums = None

    def price_crps(self, codec: TargetCodec, outputs: torch.Tensor, actual: torch.Tensor,
                   anchor: torch.Tensor, norm: tuple | None = None) -> torch.Tensor:
        """Summed CRPS in price units of the quantiles at the configured levels: twice the mean pinball
        loss over the levels (scoringrules' crps_quantile, which the final val_crps uses)."""
        quantiles = codec.decode(self.quantiles(outputs, norm), anchor[:, None])
        return 2 * pinball(actual, quantiles, self.kind.levels).mean(dim=-1).sum()

    def on_validation_epoch_end(self) -> None:
        totals = self._summed_over_processes(torch.cat([self._val_sums.to(self.device),
                                                        torch.tensor([float(self._val_count)], device=self.device)]))
        if totals[3] > 0:
            loss, price_sse, crps = totals[:3] / totals[3]
            if not self.trainer.sanity_checking:
                self._stop_if_diverged(loss, "validation")
            self.log("val/loss", loss, sync_dist=True)  # the same on every process: reduced above
            self.log("val/rmse", price_sse.sqrt(), sync_dist=True, prog_bar=True)
            if has_quantiles(self.kind):
                self.log("val/crps", crps, sync_dist=True, prog_bar=True)
            if self._series_sums is not None:
                self._log_series_objective()
            self._epoch_is_the_step()
        self._val_sums, self._val_count = torch.zeros(3, device=self.device), 0
        if self._val_quantiles:
            quantiles, targets = (torch.cat(part).double().numpy() for part in zip(*self._val_quantiles))
            self.conformal_offsets = conformal_offsets(quantiles, targets, self.hparams.quantiles)
            self._val_quantiles = []
        if self._combination_sums is not None:
            cross, energy = self._summed_over_processes(self._combination_sums).cpu().numpy()
            self.combination_weights = weights_from_sums(cross, energy)
            self._combination_sums = None

    def _summed_over_processes(self, sums: torch.Tensor) -> torch.Tensor:
        """Under DDP each process validates its share of the windows: the sums and counts are added
        up before the RMSE's square root, so val/rmse is the RMSE over every window (a mean of the
        processes' RMSEs is not, and it picks the best checkpoint)."""
        if self.trainer.world_size > 1:
            return self.trainer.strategy.reduce(sums, reduce_op="sum")
        return sums

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.conformal_offsets is not None:  # plain lists: checkpoints load with weights_only
            checkpoint["conformal_offsets"] = self.conformal_offsets.tolist()
        if self.combination_weights is not None:
            checkpoint["combination_weights"] = self.combination_weights.tolist()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "conformal_offsets" in checkpoint:
            self.conformal_offsets = np.array(checkpoint["conformal_offsets"], dtype=np.float64)
        if "combination_weights" in checkpoint:
            self.combination_weights = np.array(checkpoint["combination_weights"], dtype=np.float64)

    def _epoch_is_the_step(self) -> None:
        """Loggers put this epoch's metrics at x = epoch (0-based), not at the optimizer step: Lightning
        takes a logged `step` as the x value. Curves of runs with other batch sizes then line up."""
        self.log("step", float(self.current_epoch))

    def _stop_if_diverged(self, loss: torch.Tensor, which: str) -> None:
        """Checked once per epoch on the summed loss: a per-step check would sync the device each step."""
        if torch.isfinite(loss):
            return
        lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self.trainer.optimizers else None
        raise TrainingDiverged(
            f"the {which} loss became {loss.item()} in epoch {self.current_epoch + 1}; try a lower "
            f"learning rate (model.optimizer.lr, now {lr}) or gradient clipping "
            f"(model.gradient_clip_val, now {self.hparams.gradient_clip_val or 'off'})")

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer=optimizer)}
