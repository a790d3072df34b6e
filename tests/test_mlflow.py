"""logger=mlflow: a run, a sweep and a backtest read back from their MLflow store; without MLflow
installed, one line naming the extra before any data is read."""

import json
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from stockrnn.backtest import backtest

from conftest import REPO_ROOT, compose_config, run_module

QUICK = ["trainer=debug", "data.n_steps=5", "model.hidden_size=8", "torch_threads=1",
         "callbacks.progress_bar=null", "+trainer.enable_progress_bar=false"]


def runs_of(tracking_uri: str, experiment: str) -> list:
    client = MlflowClient(tracking_uri)
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def job_overrides(run_dir) -> str:
    return ",".join(yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()))


def test_a_run_records_its_config_epoch_scalars_metrics_and_files(tmp_path):
    run_dir, store = tmp_path / "run", tmp_path / "store"
    result = run_module("stockrnn.train", f"hydra.run.dir={run_dir}", "logger=mlflow",
                        f"paths.mlflow_dir={store}", *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    for noise in ("INFO mlflow", "Creating it", "View run", "\N{RUNNER}", "WARNING"):  # MLflow's, Lightning's
        assert noise not in output, output
    assert {"artifacts", "mlflow.db"} <= {p.name for p in store.iterdir()}
    tracking_uri = f"sqlite:///{store / 'mlflow.db'}"
    [run] = runs_of(tracking_uri, "train")
    metrics = json.loads((run_dir / "metrics.json").read_text())

    assert run.info.status == "FINISHED" and run.info.artifact_uri.startswith((store / "artifacts").as_uri())
    assert run.data.tags["overrides"] == job_overrides(run_dir) and run.data.tags["run_dir"] == str(run_dir)
    params = run.data.params
    assert params["data.n_steps"] == "5" and params["model.hidden_size"] == "8" and params["seed"] == "42"
    # Not the DataModule's arguments Lightning logs at the fit's start, nor paths inside the run directory.
    assert "n_steps" not in params and "callbacks.model_checkpoint.dirpath" not in params
    assert set(metrics) <= set(run.data.metrics)
    assert run.data.metrics["test_rmse"] == pytest.approx(metrics["test_rmse"], rel=1e-12)
    assert not {"test/rmse", "test/skill"} & set(run.data.metrics)  # metrics.json's names, not TensorBoard's
    client = MlflowClient(tracking_uri)
    val_rmse = client.get_metric_history(run.info.run_id, "val/rmse")
    assert sorted(m.step for m in val_rmse) == list(range(metrics["epochs"])) == [0, 1]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert artifacts == {"predictions.csv", "val_predictions.csv", "predictions.png", "data_split.png",
                         "metrics.json", "train.log"}
    copy = Path(client.download_artifacts(run.info.run_id, "predictions.csv", str(tmp_path)))
    assert copy.read_text() == (run_dir / "predictions.csv").read_text()


def test_a_sweeps_jobs_are_runs_of_the_tasks_experiment_tagged_with_their_overrides(tmp_path):
    sweep_dir, tracking_uri = tmp_path / "sweep", f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = run_module("stockrnn.train", "-m", f"hydra.sweep.dir={sweep_dir}", "logger=mlflow", *QUICK,
                        "model.hidden_size=4,8", env={"MLFLOW_TRACKING_URI": tracking_uri}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "outputs" / "mlruns").exists()  # MLFLOW_TRACKING_URI replaces the default store
    runs = {run.data.tags["run_dir"]: run for run in runs_of(tracking_uri, "train")}
    assert sorted(runs) == [str(sweep_dir / "0"), str(sweep_dir / "1")]
    for job in ("0", "1"):
        run = runs[str(sweep_dir / job)]
        assert run.data.tags["overrides"] == job_overrides(sweep_dir / job)
        assert run.data.params["model.hidden_size"] == ("4" if job == "0" else "8")


def test_a_backtest_is_a_run_with_its_folds_nested_under_it(tmp_path):
    store = tmp_path / "store"
    cfg = compose_config(QUICK + ["logger=mlflow", f"paths.mlflow_dir={store}", "backtest.folds=2"],
                         tmp_path / "backtest", config_name="backtest")
    metrics, _ = backtest(cfg)
    runs = runs_of(f"sqlite:///{store / 'mlflow.db'}", "backtest")
    [pooled] = [run for run in runs if "fold" not in run.data.tags]
    folds = {run.data.tags["fold"]: run for run in runs if "fold" in run.data.tags}
    assert sorted(folds) == ["1", "2"]
    assert all(run.data.tags["mlflow.parentRunId"] == pooled.info.run_id for run in folds.values())
    assert pooled.data.metrics["objective"] == pytest.approx(metrics["objective"], rel=1e-12)
    assert pooled.data.params["backtest.folds"] == "2"
    for number, run in folds.items():
        written = json.loads((tmp_path / "backtest" / "folds" / number / "metrics.json").read_text())
        assert run.data.metrics["test_rmse"] == pytest.approx(written["test_rmse"], rel=1e-12)
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    artifacts = {a.path for a in client.list_artifacts(pooled.info.run_id)}
    assert {"metrics.json", "backtest.csv", "backtest.png", "predictions.csv"} <= artifacts


@pytest.mark.parametrize("module, logger", [("stockrnn.train", "mlflow"), ("stockrnn.backtest", "many")])
def test_without_mlflow_a_run_stops_with_one_line_naming_the_extra_before_reading_data(tmp_path, module,
                                                                                        logger):
    hidden = tmp_path / "hidden"
    (hidden / "mlflow").mkdir(parents=True)  # an mlflow package that fails to import, as a missing one does
    (hidden / "mlflow" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'mlflow'\", name='mlflow')\n")
    run_dir, missing_csv = tmp_path / "run", tmp_path / "absent.csv"
    result = run_module(module, f"hydra.run.dir={run_dir}", f"logger={logger}", "data=csv",
                        f"data.path={missing_csv}", "data.train_end=2019", "data.test_start=2020",
                        env={"PYTHONPATH": f"{hidden}:{REPO_ROOT / 'src'}"}, cwd=tmp_path)
    assert result.returncode == 1
    message = ("stockrnn: error: the MLflow logger (logger=mlflow or many) needs MLflow, which is not "
               "installed: pip install 'stockrnn[mlflow]'")
    assert result.stderr.splitlines() == [message]  # not the missing CSV: no data was read
    assert not (run_dir / "metrics.json").exists() and not (tmp_path / "outputs" / "mlruns").exists()
