"""Sweeps through the other launchers, each with a job that fails: joblib (parallel processes,
torch threads limited), submitit_local; the SLURM preset as submitit turns it into sbatch lines;
and trainer=ddp (ddp_spawn, two CPU processes) inside a multirun."""

import json
import os

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from stockrnn.utils.config import CONFIG_DIR
from stockrnn.utils.threads import available_cores

from conftest import run_module

# From 2012, not the default 2000: a third of the training windows, the same sweeps.
QUICK = ["trainer=debug", "model.hidden_size=8", "data.train_start=2012"]


def check_one_ok_one_failed(sweep_dir, result) -> str:
    """The ok job's train.log."""
    assert result.returncode == 1, result.stderr[-3000:]
    assert "1 of 2 jobs failed" in result.stderr
    table = pd.read_csv(sweep_dir / "summary.csv")
    assert table["status"].tolist() == ["ok", "failed"]
    assert table["data.n_steps"].tolist() == [3, 5000]
    ok, failed = (sweep_dir / str(job) for job in table["job"])
    assert json.loads((ok / "metrics.json").read_text())["epochs"] == 2
    assert "n_steps=5000" in json.loads((failed / "error.json").read_text())["error"]
    return (ok / "train.log").read_text()


@pytest.mark.slow
def test_joblib_runs_jobs_in_parallel_processes_with_their_share_of_threads(tmp_path):
    result = run_module("stockrnn.train", "-m", f"hydra.sweep.dir={tmp_path}", "hydra/launcher=joblib",
                        "hydra.launcher.n_jobs=2", *QUICK, "data.n_steps=3,5000")
    log = check_one_ok_one_failed(tmp_path, result)
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    # LSTM, hidden 8, the default's four inputs: a small network, one thread within the job's share of the cores
    share = max(1, available_cores() // 2)
    assert (f"torch threads: 1 (default for a network of 457 parameters within this job's share of "
            f"{share} cores") in log


@pytest.mark.slow
def test_submitit_local_runs_each_job_as_a_submitted_process(tmp_path):
    result = run_module("stockrnn.train", "-m", f"hydra.sweep.dir={tmp_path}", "hydra/launcher=submitit_local",
                        "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=5", *QUICK,
                        "data.n_steps=3,5000")
    log = check_one_ok_one_failed(tmp_path, result)
    assert "torch threads: 1" in log  # cpus_per_task
    assert list((tmp_path / ".submitit").glob("*/*_result.pkl"))  # submitit's own records


def test_the_slurm_preset_becomes_the_sbatch_lines_submitit_writes(tmp_path, monkeypatch):
    """No cluster here: a stand-in `srun` lets submitit build its executor, and the submission
    stops at the job array, after submitit has checked every parameter of the preset."""
    import submitit

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", return_hydra_config=True, overrides=[
            "hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=2",
            "hydra.launcher.timeout_min=30", f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    launcher = instantiate(cfg.hydra.launcher)
    # No partition `gpu` to compare the request with here (tests/test_slurm*.py test that check).
    monkeypatch.setattr("stockrnn.slurm.request.refuse_unfit_request", lambda params: None)
    launcher.setup(hydra_context=None, task_function=None, config=cfg)

    class Submitted(Exception):
        pass

    def map_array(executor, function, *args):
        raise Submitted(executor._executor._make_submission_file_text("python job.py", "uid"))

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", map_array)
    with pytest.raises(Submitted) as submitted:
        launcher.launch([["data.n_steps=3"], ["data.n_steps=5"]], initial_job_idx=0)
    sbatch = str(submitted.value).splitlines()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=2", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --time=30", "#SBATCH --mem=8GB", "#SBATCH --ntasks-per-node=1"):
        assert line in sbatch
    assert f"#SBATCH --output={tmp_path / 'sweep'}/.submitit/%j/%j_0_log.out" in sbatch


@pytest.mark.slow
def test_ddp_spawn_on_two_cpu_processes_inside_a_multirun(tmp_path):
    result = run_module("stockrnn.train", "-m", f"hydra.sweep.dir={tmp_path}", "trainer=ddp",
                        "trainer.accelerator=cpu", "trainer.max_epochs=2", "model.hidden_size=8", "data.n_steps=5")
    assert result.returncode == 0, result.stderr[-3000:]
    # one job directory: ddp_spawn starts its processes without re-running the command
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["0"]
    metrics = json.loads((tmp_path / "0" / "metrics.json").read_text())
    # the fit ran in the spawned processes; its epochs and seconds still reach metrics.json
    assert metrics["epochs"] == 2 and metrics["train_seconds"] > 0
    assert "distributed_backend=gloo" in result.stdout + result.stderr
    assert pd.read_csv(tmp_path / "summary.csv")["status"].tolist() == ["ok"]
