"""Fit a forecaster, test its best checkpoint, and leave the run directory the contract describes."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from stockrnn.training.callbacks import EpochLog, FitTimer, GcFreeze, RandomState
from stockrnn.training.forecast_tables import check_baseline_rows, evaluate
from stockrnn.training.checkpoints import check_resumable, load_initial_weights
from stockrnn.errors import StockrnnError
from stockrnn.outputs.mlflow_runs import check_mlflow_installed, record_run
from stockrnn.training.resume import exit_interrupted
from stockrnn.utils.files import refuse_finished_run_dir
from stockrnn.outputs.console import print_results
from stockrnn.outputs.runs import (run_hparams, series_name,
                                  write_data_split, write_results)
from stockrnn.utils.command import command
from stockrnn.utils.config import check_config
from stockrnn.utils.entry import instantiate_all, sweep_job_failures_recorded, user_errors_exit
from stockrnn.utils.quiet import silence_lightning_noise
from stockrnn.utils.threads import torch_threads

log = logging.getLogger(__name__)


def load_best_weights(module: L.LightningModule, checkpoint: ModelCheckpoint | None) -> None:
    if checkpoint is not None and checkpoint.best_model_path:
        state = torch.load(checkpoint.best_model_path, map_location=module.device, weights_only=True)
        module.load_state_dict(state["state_dict"])
        module.on_load_checkpoint(state)  # what the module keeps beside its weights (conformal shifts)


def check_finite(metrics: dict) -> None:
    """A diverged fit (NaN or infinite loss) is a failed run, not a result to rank."""
    bad = {key: metrics[key] for key in ("val_rmse", "test_rmse", "val_crps", "test_crps")
           if key in metrics and not math.isfinite(metrics[key])}
    if bad:
        found = ", ".join(f"{key}={value}" for key, value in bad.items())
        raise StockrnnError(f"training diverged: {found}; try a lower model.optimizer.lr or "
                            "model.gradient_clip_val")


def train(cfg: DictConfig) -> tuple[dict, dict]:
    """Run one training from a composed config; returns (metrics, objects)."""
    check_config(cfg)
    check_mlflow_installed(cfg.get("logger"))
    output_dir = Path(cfg.paths.output_dir)
    refuse_finished_run_dir(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)  # Hydra makes it; train(cfg) called directly may not

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")  # bad data fails here, before anything is written
    if cfg.model.get("distribution", "none") != "none":
        for part in datamodule.parts.values():
            check_baseline_rows(part)  # not after a whole fit
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    module = instantiate(cfg.model, n_features=datamodule.n_features, horizon=datamodule.horizon,
                         target_codec=datamodule.target_codec.to_dict(), n_series=datamodule.n_series)
    threads, reason = torch_threads(cfg.get("torch_threads"), sum(p.numel() for p in module.parameters()))
    torch.set_num_threads(threads)
    log.info("torch threads: %d (%s)", threads, reason)
    if cfg.get("ckpt_path"):
        check_resumable(cfg.ckpt_path, module, datamodule)
    elif cfg.get("init_weights"):
        load_initial_weights(cfg.init_weights, module, list(datamodule.parts))
    fit_timer = FitTimer()
    loggers = instantiate_all(cfg.get("logger"))
    callbacks = instantiate_all(cfg.get("callbacks")) + [fit_timer, RandomState(), EpochLog(), GcFreeze()]
    silence_lightning_noise()
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    if trainer.is_global_zero:  # under SLURM ddp every rank runs this function
        write_data_split(datamodule, output_dir, loggers)

    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    except SystemExit:
        if trainer.interrupted:  # Lightning ends a fit stopped by Ctrl-C with sys.exit(1)
            exit_interrupted(output_dir)
        raise
    load_best_weights(module, trainer.checkpoint_callback)
    evaluation = evaluate(module, datamodule)
    check_finite(evaluation.metrics)
    evaluation.metrics |= FitTimer.results(trainer)
    if trainer.is_global_zero:
        # At the last epoch, on the losses' x axis (the epoch, see Forecaster).
        last_epoch = max(evaluation.metrics["epochs"] - 1, 0)
        write_results(evaluation, output_dir, loggers, run_hparams(cfg), last_epoch,
                      title=f"{cfg.model.cell} on {datamodule.target}", series=series_name(datamodule))
        print_results(evaluation.metrics, output_dir)
        record_run(loggers, run_hparams(cfg), evaluation.metrics, last_epoch, output_dir)
    return evaluation.metrics, {"datamodule": datamodule, "model": module, "trainer": trainer,
                                "fit_timer": fit_timer, "evaluation": evaluation}


@command("train")
def main(cfg: DictConfig) -> float | None:
    """Returns the objective a sweeper minimizes: val_rmse, or with a distribution the `objective`
    (validation CRPS relative to climatology's). A sweep job that fails leaves
    error.json and returns None: the Optuna sweeper records None as a failed trial and goes on,
    while a NaN crashes hydra-optuna-sweeper 1.3 (hydra issue 2237)."""
    with user_errors_exit(), sweep_job_failures_recorded():
        metrics, _ = train(cfg)
        return metrics.get("objective", metrics["val_rmse"])
    return None


if __name__ == "__main__":
    main()
