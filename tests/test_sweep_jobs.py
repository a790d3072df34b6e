"""What one job of a sweep does differently from a single run: its failure is recorded instead
of ending the command, its torch threads are its share of the cores, its TensorBoard run is named
after its overrides, and its hyperparameters reach the HParams tab under readable keys."""

import json

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from stockrnn.errors import StockrnnError
from stockrnn.outputs.runs import readable_hparams
from stockrnn.utils import threads
from stockrnn.utils.config import CONFIG_DIR, run_name
from stockrnn.utils.entry import sweep_job_failures_recorded


@pytest.fixture
def hydra_job(tmp_path):
    """Sets the HydraConfig a launcher sets for a job; `overrides` choose mode, launcher, sweeper."""
    def make(*overrides):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(tmp_path)
        HydraConfig.instance().set_config(cfg)
        return cfg
    yield make
    HydraConfig.instance().cfg = None


def test_a_sweep_job_records_any_exception_and_ends_normally(hydra_job, tmp_path):
    hydra_job("hydra.mode=MULTIRUN")
    reached = []
    with sweep_job_failures_recorded():
        raise ValueError("Invalid learning rate: nan")
    reached.append("after")  # the code after the block runs: main returns None from there
    error = json.loads((tmp_path / "error.json").read_text())
    assert reached == ["after"]
    assert error["error"] == "ValueError: Invalid learning rate: nan" and error["type"] == "ValueError"
    assert "Traceback" in error["traceback"] and "raise ValueError" in error["traceback"]


def test_a_sweep_job_records_a_user_error_by_its_message(hydra_job, tmp_path):
    hydra_job("hydra.mode=MULTIRUN")
    with sweep_job_failures_recorded():
        raise RuntimeError("Error in call to target\n'x'") from StockrnnError("data.n_steps=0: expected a positive integer")
    error = json.loads((tmp_path / "error.json").read_text())
    assert error["error"] == "data.n_steps=0: expected a positive integer"
    assert error["type"] == "StockrnnError"


def test_a_single_run_raises_as_before(hydra_job, tmp_path):
    hydra_job()  # hydra.mode RUN
    with pytest.raises(StockrnnError), sweep_job_failures_recorded():
        raise StockrnnError("bad")
    assert not (tmp_path / "error.json").exists()


@pytest.mark.parametrize("overrides, cores, expected", [
    ([], 8, 8),  # basic launcher: a job runs alone, every core
    (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], 8, 4),
    (["hydra/launcher=joblib"], 8, 1),  # n_jobs=-1: a job per core
    (["hydra/launcher=joblib", "hydra.launcher.n_jobs=-2"], 8, 1),  # 7 jobs on 8 cores
    (["hydra/launcher=joblib", "hydra.launcher.n_jobs=3"], 2, 1),  # never 0
    (["hydra/launcher=joblib", "hydra.launcher.n_jobs=4", "hydra/sweeper=optuna",
      "hydra.sweeper.n_jobs=2"], 8, 4),  # Optuna sends 2 trials at a time: 2 jobs run at once
    (["hydra/launcher=submitit_local", "hydra.launcher.cpus_per_task=3"], 8, 3),
    (["hydra/launcher=submitit_slurm"], 8, 4),  # the preset's cpus_per_task
    (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "torch_threads=6"], 8, 6),  # explicit wins
])
def test_a_large_networks_threads_are_the_jobs_share_of_the_cores(hydra_job, monkeypatch, overrides, cores,
                                                                   expected):
    cfg = hydra_job("hydra.mode=MULTIRUN", *overrides)
    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    assert threads.torch_threads(cfg.torch_threads, threads.LARGE_NETWORK_PARAMETERS)[0] == expected


@pytest.mark.parametrize("overrides", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                                       ["hydra/launcher=submitit_slurm"]])
def test_a_small_network_gets_one_thread_alone_or_within_a_share(hydra_job, monkeypatch, overrides):
    cfg = hydra_job("hydra.mode=MULTIRUN", *overrides)
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    count, reason = threads.torch_threads(cfg.torch_threads, threads.LARGE_NETWORK_PARAMETERS - 1)
    assert count == 1 and reason.startswith("default for a network of 99,999 parameters")
    assert reason.endswith("; torch_threads=N to change")


def test_torch_threads_outside_hydra_follow_the_network_size_or_the_config(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    assert threads.torch_threads(None, 17_217) == (
        1, "default for a network of 17,217 parameters; torch_threads=N to change")
    assert threads.torch_threads(None, 199_297)[0] == 4
    assert threads.torch_threads(3, 17_217) == (3, "torch_threads=3")


@pytest.mark.parametrize("overrides, name", [
    ([], ""),
    (["model=gru", "data.n_steps=10"], "model=gru,data.n_steps=10"),
    (["data.path=/data/../prices/msft.csv", "+data/extra=x"], "data.path=msft.csv,+data.extra=x"),
    (["model.hidden_size=64"] * 30, ("model.hidden_size=64," * 30)[:197] + "..."),
])
def test_run_name_is_one_readable_directory_name(overrides, name):
    assert run_name(overrides) == name
    assert "/" not in run_name(overrides) and len(run_name(overrides)) <= 200


def test_hparams_are_flat_override_keys_without_run_paths():
    config = {"data": {"n_steps": 10, "features": ["High"], "_target_": "x.Y"},
              "model": {"cell": "gru", "optimizer": {"lr": 0.01, "_partial_": True}, "scheduler": None},
              "trainer": {"default_root_dir": "/runs/3", "max_epochs": 5},
              "callbacks": {"checkpoint": {"dirpath": "/runs/3/checkpoints"}}}
    assert readable_hparams(config, "/runs/3") == {
        "data.n_steps": 10, "data.features": '["High"]', "model.cell": "gru", "model.optimizer.lr": 0.01,
        "model.scheduler": "null", "trainer.max_epochs": 5}
