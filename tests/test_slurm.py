"""Sweeps through a real SLURM cluster (`scripts/slurm_local.sh up` starts one on this machine;
`.ci/run` does it before the suite): a grid with an impossible job, an Optuna search whose
trials are array jobs, and the sweeps that can never run or lose a job: a request larger than the
node, a job pending for a reason that never clears, a job cancelled from outside. Skipped with the
reason when no SLURM answers. Also, without a cluster: the GPUs a SLURM job asks for, and the
refusals of scripts/slurm_local.sh."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from stockrnn.utils.config import CONFIG_DIR, run_name, slurm_gpus

from conftest import REPO_ROOT, run_module

TINY = ["trainer.max_epochs=1", "model.hidden_size=8", "callbacks.progress_bar=null"]
SCRIPT = REPO_ROOT / "scripts" / "slurm_local.sh"


@functools.cache
def slurm_unavailable() -> str | None:
    """Why no SLURM cluster can take jobs here, or None. Asked once: sinfo takes about 10 s to
    give up on a controller that does not answer."""
    if shutil.which("sinfo") is None:
        return "no SLURM here (no sinfo); scripts/slurm_local.sh up starts a local cluster"
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "SLURM is not responding (sinfo took over 15 s)"
    if states.returncode != 0:
        return f"SLURM is not responding: {states.stderr.strip()[:200]}"
    if not {"idle", "mixed", "allocated"} & set(states.stdout.split()):
        return f"no SLURM node can take jobs (states: {' '.join(states.stdout.split()) or 'none'})"
    return None


def needs_slurm():
    reason = slurm_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_grid(tmp_path_factory):
    """One sweep shared by the grid tests: 4 jobs, the n_steps=5000 ones impossible."""
    needs_slurm()
    sweep_dir = tmp_path_factory.mktemp("slurm_grid")
    result = run_module("stockrnn.train", "-m", f"hydra.sweep.dir={sweep_dir}", "hydra/launcher=slurm_local",
                        *TINY, "model=lstm,gru", "data.n_steps=3,5000", timeout=600)
    return sweep_dir, result


@pytest.mark.slurm
def test_a_grid_through_slurm_completes_every_good_job_and_records_the_failed_ones(slurm_grid):
    sweep_dir, result = slurm_grid
    assert result.returncode == 1, result.stderr[-3000:]
    assert "2 of 4 jobs failed" in result.stderr
    table = pd.read_csv(sweep_dir / "summary.csv")
    assert sorted(table["status"]) == ["failed", "failed", "ok", "ok"]
    for row in table.itertuples():
        job_dir = sweep_dir / str(row.job)
        if row.status == "ok":
            metrics = json.loads((job_dir / "metrics.json").read_text())
            assert metrics["epochs"] == 1 and metrics["test_rmse"] > 0
            assert len(pd.read_csv(job_dir / "predictions.csv")) == metrics["n_test"]
            assert (job_dir / "checkpoints" / "best.ckpt").is_file()
            # the local launcher's layout: <job>/tensorboard/<overrides>/events...
            events = list((job_dir / "tensorboard").glob("*/events.out.tfevents.*"))
            assert events, sorted(p.name for p in job_dir.rglob("*"))
            assert {e.parent.name for e in events} == {run_name(row.overrides.split(" "))}
        else:
            assert not (job_dir / "metrics.json").exists()
            assert "n_steps=5000" in row.error
            assert "n_steps=5000" in json.loads((job_dir / "error.json").read_text())["error"]
    assert set(table.loc[table["status"] == "ok", "data.n_steps"]) == {3}
    # they ran as SLURM array jobs: submitit's sbatch script for the preset, one log per task
    (submission,) = (sweep_dir / ".submitit").glob("*/*_submission.sh")
    sbatch = submission.read_text().splitlines()
    assert "#SBATCH --partition=debug" in sbatch and "#SBATCH --array=0-3%4" in sbatch
    assert len(list((sweep_dir / ".submitit").glob("*_*/*_result.pkl"))) == 4


@pytest.mark.slurm
def test_report_rebuilds_the_summary_of_a_slurm_sweep(slurm_grid):
    sweep_dir, _ = slurm_grid
    before = pd.read_csv(sweep_dir / "summary.csv")
    (sweep_dir / "summary.csv").unlink()
    result = run_module("stockrnn.report", str(sweep_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "failed" in result.stdout and str(sweep_dir / "summary.csv") in result.stdout
    after = pd.read_csv(sweep_dir / "summary.csv")
    assert after["status"].tolist() == before["status"].tolist()
    assert after["job"].tolist() == before["job"].tolist()


@pytest.mark.slurm
def test_an_optuna_search_through_slurm_runs_its_trials_as_array_jobs(tmp_path):
    needs_slurm()
    result = run_module("stockrnn.train", "-m", f"hydra.sweep.dir={tmp_path}", "hparams_search=optuna",
                        "hydra/launcher=slurm_local", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
                        *TINY, "data.n_steps=choice(3,5)", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    best = (tmp_path / "optimization_results.yaml").read_text()
    assert "best_value" in best
    assert pd.read_csv(tmp_path / "summary.csv")["status"].tolist() == ["ok", "ok"]
    (submission,) = (tmp_path / ".submitit").glob("*/*_submission.sh")  # both trials: one array
    assert "#SBATCH --array=0-1%2" in submission.read_text().splitlines()


@pytest.mark.parametrize("accelerator, devices, gpus", [
    ("gpu", 1, 1), ("cuda", 2, 2), ("gpu", [0, 1], 2), ("gpu", "auto", None), ("gpu", -1, None),
    ("cpu", 2, None), ("auto", 1, None)])
def test_a_slurm_job_asks_for_trainer_devices_gpus_when_the_accelerator_is_a_gpu(accelerator, devices, gpus):
    assert slurm_gpus(accelerator, devices) == gpus


@pytest.mark.parametrize("overrides, gpus", [([], None), (["trainer=gpu"], 1),
                                             (["trainer=gpu", "trainer.devices=4"], 4),
                                             (["trainer=gpu", "hydra.launcher.gpus_per_node=2"], 2)])
def test_the_slurm_presets_derive_gpus_per_node_from_the_trainer(overrides, gpus):
    for launcher in ("submitit_slurm", "slurm_local"):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose("train", return_hydra_config=True,
                          overrides=[f"hydra/launcher={launcher}", *overrides])
        assert cfg.hydra.launcher.gpus_per_node == gpus
    assert cfg.hydra.launcher.partition == "debug" and cfg.hydra.launcher.cpus_per_task == 1


def run_script(*args, env=None, user=None):
    if not user:
        command = ["bash", str(SCRIPT), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, env=os.environ | (env or {}))
    # Another user may not be able to read the clone (CI clones into a directory only root can
    # read): bash reads the script from standard input instead.
    command = ["runuser", "-u", user, "--", "bash", "-s", "--", *args]
    return subprocess.run(command, input=SCRIPT.read_text(), capture_output=True, text=True, timeout=30,
                          env=os.environ | (env or {}))


def test_slurm_local_refuses_a_slurm_conf_it_did_not_write(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the check after the root check: needs root")
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=production\n")
    for action in ("up", "down"):
        result = run_script(action, env={"SLURM_LOCAL_CONF": str(conf)})
        assert result.returncode == 1
        assert "was not written by this script" in result.stderr
    assert conf.read_text() == "ClusterName=production\n"


def test_slurm_local_refuses_to_run_without_root():
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("root without runuser: no way to run it as another user")
    result = run_script("up", user="nobody" if os.geteuid() == 0 else None)
    assert result.returncode == 1
    assert "must run as root" in result.stderr


@pytest.mark.slurm
def test_a_backtest_sweep_through_slurm_runs_each_backtest_as_a_job(tmp_path):
    needs_slurm()
    result = run_module("stockrnn.backtest", "-m", f"hydra.sweep.dir={tmp_path}", "hydra/launcher=slurm_local",
                        *TINY, "backtest.folds=2", "data.n_steps=3,5", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["status"].tolist() == ["ok", "ok"] and summary["objective"].is_monotonic_increasing
    for job in (0, 1):
        assert (tmp_path / str(job) / "folds" / "2" / "metrics.json").is_file()
        assert len(pd.read_csv(tmp_path / str(job) / "backtest.csv")) == 2


def squeue(job_id: str) -> dict[str, str]:
    """Each job of an array (or the one job) and its state, while the controller holds it."""
    command = ["squeue", "-h", "-r", "-t", "all", "-j", job_id, "-o", "%i|%T"]
    lines = subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.split()
    return dict(line.split("|") for line in lines)


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, f"waited {timeout_s} s for {what}"
        time.sleep(1)
    return value


def stockrnn_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("stockrnn: error:")]


@pytest.mark.slurm
def test_a_request_larger_than_every_node_is_refused_before_anything_is_submitted(tmp_path):
    needs_slurm()
    cpus = max(int(c.rstrip("+")) for c in subprocess.run(["sinfo", "-h", "-p", "debug", "-o", "%c"],
                                                          capture_output=True, text=True).stdout.split())
    sweep_dir = tmp_path / "sweep"
    # the cluster preset as it stands: 4 CPUs and 8 GB a job; the local node has 4000 MB
    result = run_module("stockrnn.train", "-m", f"hydra.sweep.dir={sweep_dir}",
                        "hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug", *TINY,
                        "model=lstm,gru")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    (message,) = stockrnn_errors(result.stderr)
    assert message.startswith("stockrnn: error: SLURM can never start this sweep's jobs: each job asks for ")
    assert "8 GB" in message and "hydra.launcher.mem_gb" in message and "hydra.launcher.partition" in message
    assert ("hydra.launcher.cpus_per_task" in message) == (cpus < 4)
    assert not sweep_dir.exists()  # nothing submitted, no sweep record


@pytest.mark.slurm
def test_a_request_sbatch_refuses_ends_the_sweep_with_its_reason(tmp_path):
    needs_slurm()
    result = run_module("stockrnn.train", "-m", f"hydra.sweep.dir={tmp_path}", "hydra/launcher=slurm_local",
                        *TINY, "hydra.launcher.constraint=no_such_feature", "model=lstm,gru")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert stockrnn_errors(result.stderr) == [(
        "stockrnn: error: sbatch refused this sweep's jobs: Batch job submission failed: Invalid feature "
        "specification; change the hydra.launcher settings it names (e.g. constraint, exclude, qos, account, "
        "partition)")]
    assert not (tmp_path / "summary.csv").exists()


@pytest.mark.slurm
def test_a_job_pending_for_a_reason_that_never_clears_ends_the_sweep(tmp_path):
    needs_slurm()
    # A job the sweep depends on fails: SLURM keeps the array pending, DependencyNeverSatisfied.
    sbatch = ["sbatch", "--parsable", "-p", "debug", "-c", "1", "--mem=100M", "-o", "/dev/null",
              "--wrap", "false"]
    failed = subprocess.run(sbatch, capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    wait_for(lambda: squeue(failed).get(failed) == "FAILED", 60, f"job {failed} to fail")
    sweep_dir = tmp_path / "sweep"
    result = run_module("stockrnn.train", "-m", f"hydra.sweep.dir={sweep_dir}", "hydra/launcher=slurm_local",
                        *TINY, f"+hydra.launcher.additional_parameters.dependency=afterok:{failed}",
                        "model=lstm,gru", timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    (message,) = stockrnn_errors(result.stderr)
    assert "it is pending with reason DependencyNeverSatisfied, which does not clear by itself" in message
    assert "hydra.launcher.additional_parameters.dependency" in message
    (array,) = [p.name for p in (sweep_dir / ".submitit").iterdir() if p.name.isdigit()]
    assert set(squeue(array).values()) == {"CANCELLED"}
    assert not (sweep_dir / "summary.csv").exists()


@pytest.mark.slurm
def test_a_job_cancelled_from_outside_is_recorded_as_failed_and_the_others_kept(tmp_path):
    needs_slurm()
    sweep_dir = tmp_path / "sweep"
    paths = [str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH")]  # as run_module sets it
    env = {"PYTHONPATH": os.pathsep.join(filter(None, paths)), "PYTHONUNBUFFERED": "1"}
    # job 1 trains until it is cancelled
    sweep = subprocess.Popen([sys.executable, "-m", "stockrnn.train", "-m", f"hydra.sweep.dir={sweep_dir}",
                              "hydra/launcher=slurm_local", *TINY, "callbacks.early_stopping=null",
                              "trainer.max_epochs=1,100000"], cwd=REPO_ROOT, env=os.environ | env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        submitted = sweep_dir / ".submitit"
        (array,) = wait_for(lambda: [p.name.removesuffix("_1") for p in submitted.glob("*_1")], 120,
                            "the array's submission")
        job_started = sweep_dir / "1" / ".hydra"
        wait_for(lambda: squeue(array).get(f"{array}_1") == "RUNNING" and job_started.is_dir(), 120, "job 1")
        subprocess.run(["scancel", f"{array}_1"], check=True, timeout=30)
        _, stderr = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            subprocess.run(["scancel", array], timeout=30)
    assert sweep.returncode == 1, stderr[-3000:]
    assert stockrnn_errors(stderr) == [f"stockrnn: error: 1 of 2 jobs failed; see {sweep_dir / 'summary.md'}"]
    table = pd.read_csv(sweep_dir / "summary.csv").set_index("job")
    assert table.loc[0, "status"] == "ok" and (sweep_dir / "0" / "metrics.json").is_file()
    assert table.loc[1, "status"] == "failed"
    assert table.loc[1, "error"].startswith(f"SLURM job {array}_1 ended CANCELLED without a result")
    error = json.loads((sweep_dir / "1" / "error.json").read_text())
    assert error["slurm_state"] == "CANCELLED" and error["type"] == "SlurmJobEnded"
    assert "| failed |" in (sweep_dir / "summary.md").read_text()
