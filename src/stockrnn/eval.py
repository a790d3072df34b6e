"""Re-evaluate a checkpoint on its test range (or another CSV) and write the same files as train."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from stockrnn.training.checkpoints import datamodule_for, load_checkpoint
from stockrnn.data.datamodule import refuse_unseen_series
from stockrnn.training.forecast_tables import evaluate
from stockrnn.outputs.mlflow_runs import check_mlflow_installed, record_run
from stockrnn.utils.files import refuse_finished_run_dir
from stockrnn.outputs.console import print_results
from stockrnn.outputs.runs import (series_name, write_data_split,
                                  write_results)
from stockrnn.utils.command import command
from stockrnn.utils.entry import instantiate_all, user_errors_exit


def evaluate_checkpoint(cfg: DictConfig) -> dict:
    output_dir = Path(cfg.paths.output_dir)
    refuse_finished_run_dir(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)  # Hydra makes it; evaluate_checkpoint called directly may not
    check_mlflow_installed(cfg.get("logger"))
    restored = load_checkpoint(cfg.ckpt_path)
    datamodule = datamodule_for(restored, OmegaConf.to_container(cfg.data, resolve=True))
    datamodule.setup("test")
    refuse_unseen_series(datamodule, datamodule.unseen_series, restored.module)
    loggers = instantiate_all(cfg.get("logger"))
    write_data_split(datamodule, output_dir, loggers)
    evaluation = evaluate(restored.module, datamodule)
    evaluation.metrics["epochs"] = restored.epoch
    hparams = {"model": dict(restored.module.hparams), "data": datamodule.hparams,
               "ckpt_path": str(cfg.ckpt_path)}
    write_results(evaluation, output_dir, loggers, hparams, step=0,
                  title=f"{restored.module.hparams.cell} on {datamodule.target}", series=series_name(datamodule))
    print_results(evaluation.metrics, output_dir)
    record_run(loggers, hparams, evaluation.metrics, 0, output_dir)
    return evaluation.metrics


@command("eval")
def main(cfg: DictConfig) -> None:
    with user_errors_exit():
        evaluate_checkpoint(cfg)


if __name__ == "__main__":
    main()
