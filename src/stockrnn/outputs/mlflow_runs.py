"""MLflow beside TensorBoard (logger=mlflow): each run, sweep job or backtest fold is an MLflow run in the
experiment named after its task, with its config, epoch scalars, final metrics and files."""

from __future__ import annotations

import importlib
from pathlib import Path

from filelock import FileLock
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class
from lightning.pytorch.loggers import Logger, MLFlowLogger
from omegaconf import DictConfig

from stockrnn.errors import StockrnnError
from stockrnn.outputs.runs import readable_hparams
from stockrnn.utils.quiet import silence_mlflow_notices

INSTALL = "pip install 'stockrnn[mlflow]'"
# A run's files MLflow keeps, where they exist, and its log (train.log, eval.log, backtest.log).
RUN_FILES = ("metrics.json", "predictions.csv", "val_predictions.csv", "per_series.csv", "predictions.png",
             "data_split.png")
BACKTEST_FILES = ("metrics.json", "backtest.csv", "backtest.png", "predictions.csv", "val_predictions.csv",
                  "per_series.csv")


def check_mlflow_installed(logger_cfg: DictConfig | None) -> None:
    """Before any data is read: a logger config that uses MLflow needs it installed (the mlflow extra)."""
    targets = [node.get("_target_") for node in (logger_cfg or {}).values() if node]
    if any(target and issubclass(get_class(target), MLFlowLogger) for target in targets):
        import_mlflow()


def import_mlflow() -> None:
    try:
        importlib.import_module("mlflow")
    except ImportError:
        raise StockrnnError("the MLflow logger (logger=mlflow or many) needs MLflow, which is not "
                            f"installed: {INSTALL}") from None
    silence_mlflow_notices()


class RunLogger(MLFlowLogger):
    """Lightning's MLFlowLogger with the store and names of stockrnn runs.

    The store: tracking_uri (MLFLOW_TRACKING_URI) when set, else a SQLite database store_dir/mlflow.db
    with the files in store_dir/artifacts (MLflow 3 refuses a bare folder store without an opt-out).
    Each run is tagged with its overrides (as in .hydra/overrides.yaml) and its run directory.
    """

    def __init__(self, experiment_name: str, store_dir: str, run_dir: str, tracking_uri: str | None = None,
                 run_name: str | None = None, tags: dict | None = None, **kwargs):
        import_mlflow()
        if not tracking_uri:
            tracking_uri = local_store(Path(store_dir).resolve(), experiment_name)
        tags = {"overrides": ",".join(job_overrides()), "run_dir": str(Path(run_dir).resolve()),
                **(tags or {})}
        super().__init__(experiment_name=experiment_name, tracking_uri=tracking_uri,
                         run_name=run_name or Path(run_dir).name, tags=tags, **kwargs)

    def log_hyperparams(self, params) -> None:
        """Ignored: Lightning logs the DataModule's arguments at the start of a fit, unprefixed
        (`n_steps`), while the run's whole config is recorded at its end (`data.n_steps`)."""

    def record(self, hparams: dict, metrics: dict, step: int, run_dir: Path, files: tuple[str, ...]) -> None:
        """The finished run: its config as params (`data.n_steps`), metrics.json's keys at the last
        epoch, and its files; then the run ends, after Lightning ended it with the fit."""
        super().log_hyperparams(readable_hparams(hparams, str(run_dir), kept=("",)))
        numbers = {key: value for key, value in metrics.items() if isinstance(value, (int, float))}
        self.log_metrics(numbers, step)
        for path in [run_dir / name for name in files] + sorted(run_dir.glob("*.log")):
            if path.is_file():
                self.experiment.log_artifact(self.run_id, str(path))
        self.finalize("success")


def local_store(store: Path, experiment_name: str) -> str:
    """The tracking URI of the SQLite store in `store`, with the experiment made there. Under a lock:
    parallel sweep jobs (joblib) on a new store would each create its tables and the experiment."""
    from mlflow.tracking import MlflowClient

    store.mkdir(parents=True, exist_ok=True)  # MLflow creates the database, not its folder
    tracking_uri = f"sqlite:///{store / 'mlflow.db'}"
    with FileLock(store / "mlflow.db.lock"):
        client = MlflowClient(tracking_uri)
        if client.get_experiment_by_name(experiment_name) is None:
            client.create_experiment(experiment_name, artifact_location=(store / "artifacts").as_uri())
    return tracking_uri


def job_overrides() -> list[str]:
    """The command line's overrides of this run or sweep job; none outside a Hydra job (tests)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def mlflow_loggers(loggers: list[Logger]) -> list[RunLogger]:
    return [logger for logger in loggers if isinstance(logger, RunLogger)]


def record_run(loggers: list[Logger], hparams: dict, metrics: dict, step: int, run_dir: Path) -> None:
    """A train or eval run's record in MLflow, once its files are written."""
    for logger in mlflow_loggers(loggers):
        logger.record(hparams, metrics, step, run_dir, RUN_FILES)


def record_backtest(loggers: list[Logger], hparams: dict, metrics: dict, run_dir: Path,
                    fold_runs: dict[int, list[str]]) -> None:
    """The backtest's pooled record as one MLflow run, its folds' runs nested under it."""
    for logger in mlflow_loggers(loggers):
        logger.record(hparams, metrics, 0, run_dir, BACKTEST_FILES)
        for number, run_ids in fold_runs.items():
            for run_id in run_ids:
                logger.experiment.set_tag(run_id, "mlflow.parentRunId", logger.run_id)
                logger.experiment.set_tag(run_id, "fold", str(number))
                logger.experiment.set_tag(run_id, "mlflow.runName", f"fold {number}")


def run_ids(loggers: list[Logger]) -> list[str]:
    """The MLflow runs these loggers wrote (a backtest fold's)."""
    return [logger.run_id for logger in mlflow_loggers(loggers)]
