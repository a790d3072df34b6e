"""A real multirun in a subprocess over a tiny grid with impossible jobs: the failures are recorded
and the rest run, the summary ranks them, `stockrnn.report` rebuilds it, and the real TensorBoard
shows every job by its overrides with its hyperparameters and metrics."""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from stockrnn.utils.config import run_name

from conftest import run_module

# From 2012, not the default 2000: a third of the training windows for each job, the same sweep.
GRID = ["trainer=debug", "model.hidden_size=8", "data.train_start=2012", "model=rnn,gru", "data.n_steps=3,5,5000"]
TOO_LONG = "the train range 2012..2016 has 1258 rows; n_steps=5000"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("sweep")
    result = run_module("stockrnn.train", "-m", f"hydra.sweep.dir={sweep_dir}", *GRID)
    return sweep_dir, result


def job_overrides(job_dir: Path) -> list[str]:
    return yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())


@pytest.mark.slow
def test_failed_jobs_are_recorded_and_the_others_run(sweep):
    sweep_dir, result = sweep
    assert result.returncode == 1, result.stderr[-3000:]
    assert "stockrnn: error: 2 of 6 jobs failed" in result.stderr
    assert "6 jobs: 4 ok, 2 failed" in result.stdout + result.stderr
    jobs = {int(d.name): d for d in sweep_dir.iterdir() if d.name.isdigit()}
    assert sorted(jobs) == [0, 1, 2, 3, 4, 5]
    failed = {n for n, d in jobs.items() if "data.n_steps=5000" in job_overrides(d)}
    assert failed == {2, 5}
    for n, job_dir in jobs.items():
        if n in failed:
            assert not (job_dir / "metrics.json").exists()
            assert TOO_LONG in json.loads((job_dir / "error.json").read_text())["error"]
        else:
            assert not (job_dir / "error.json").exists()
            assert json.loads((job_dir / "metrics.json").read_text())["epochs"] == 2
            # TensorBoard's run name is the path: job number, tensorboard/, the overrides
            events = job_dir / "tensorboard" / run_name(job_overrides(job_dir))
            assert list(events.glob("events.out.tfevents.*")), events


@pytest.mark.slow
def test_the_summary_ranks_the_jobs_by_val_rmse(sweep):
    sweep_dir, _ = sweep
    table = pd.read_csv(sweep_dir / "summary.csv")
    assert table["status"].tolist() == ["ok"] * 4 + ["failed"] * 2
    ok = table[table["status"] == "ok"]
    assert ok["val_rmse"].is_monotonic_increasing
    assert sorted(zip(ok["model"], ok["data.n_steps"])) == [("gru", 3), ("gru", 5), ("rnn", 3), ("rnn", 5)]
    for row in ok.itertuples():
        metrics = json.loads((sweep_dir / str(row.job) / "metrics.json").read_text())
        assert row.val_rmse == pytest.approx(metrics["val_rmse"]) and row.skill == pytest.approx(metrics["skill"])
    assert table["error"].fillna("").str.contains(TOO_LONG, regex=False).tolist() == [False] * 4 + [True] * 2
    assert "6 jobs: 4 ok, 2 failed" in (sweep_dir / "summary.md").read_text()
    assert (sweep_dir / "summary.png").stat().st_size > 10_000


@pytest.mark.slow
def test_report_rebuilds_the_summary_of_an_unfinished_sweep(sweep, tmp_path):
    sweep_dir, _ = sweep
    copy = shutil.copytree(sweep_dir, tmp_path / "sweep")
    for name in ("summary.csv", "summary.md", "summary.png"):
        (copy / name).unlink()
    best = pd.read_csv(sweep_dir / "summary.csv")["job"][0]
    (copy / str(best) / "metrics.json").unlink()  # as if it were still running
    result = run_module("stockrnn.report", str(copy))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "6 jobs: 3 ok, 2 failed, 1 unfinished" in result.stdout
    table = pd.read_csv(copy / "summary.csv")
    assert table["status"].tolist() == ["ok"] * 3 + ["failed", "failed", "unfinished"]
    assert table["job"].tolist()[-1] == best and (copy / "summary.png").is_file()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_tensorboard_shows_each_job_with_its_hparams_and_metrics(sweep, tmp_path):
    sweep_dir, _ = sweep
    ok_jobs = {d.name: d for d in sweep_dir.iterdir() if (d / "metrics.json").is_file()}
    expected_runs = {f"{n}/tensorboard/{run_name(job_overrides(d))}": d for n, d in ok_jobs.items()}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "tensorboard.log"  # a file, not a pipe that nobody reads and that could fill up
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "tensorboard"), "--logdir", str(sweep_dir), "--host", "127.0.0.1",
             "--port", str(port), "--load_fast=false", "--reload_interval", "1"],
            stdout=log_file, stderr=subprocess.STDOUT)
    session_groups_request = {
        "experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS"],
        "colParams": [{"metric": {"group": "", "tag": "hp/val_rmse"}, "order": "ORDER_ASC"},
                      {"hparam": "data.n_steps"}, {"hparam": "model.cell"}],
        "startIndex": 0, "sliceSize": 100}

    def loaded() -> bool:
        """Every job listed, with its session and metrics (TensorBoard loads in the background)."""
        try:
            groups = fetch(f"{url}/data/plugin/hparams/session_groups", session_groups_request)["sessionGroups"]
            return len(groups) == len(expected_runs) and all(g["metricValues"] for g in groups)
        except OSError:
            return False  # not listening yet

    try:
        deadline = time.monotonic() + 90
        while not loaded() and time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()[-2000:]
            time.sleep(1)
        assert set(fetch(f"{url}/data/runs")) == set(expected_runs)

        tags = fetch(f"{url}/data/plugin/scalars/tags")
        for run in expected_runs:
            assert {"hp/val_rmse", "hp/test_rmse", "hp/skill", "val/rmse", "train/loss"} <= set(tags[run])

        experiment = fetch(f"{url}/data/plugin/hparams/experiment", {"experimentName": "", "includeMetrics": True})
        differs = {h["name"] for h in experiment["hparamInfos"] if h.get("differs")}
        assert differs == {"data.n_steps", "model.cell"}  # what the grid swept, nothing run-specific
        assert {"model.hidden_size", "model.num_layers", "model.optimizer.lr"} <= {
            h["name"] for h in experiment["hparamInfos"]}
        assert {"hp/val_rmse", "hp/test_rmse", "hp/skill"} <= {m["name"]["tag"] for m in experiment["metricInfos"]}

        groups = fetch(f"{url}/data/plugin/hparams/session_groups", session_groups_request)["sessionGroups"]
        assert {g["name"] for g in groups} == set(expected_runs)
        for group in groups:
            job_dir = expected_runs[group["name"]]
            metrics = json.loads((job_dir / "metrics.json").read_text())
            overrides = dict(o.split("=", 1) for o in job_overrides(job_dir))
            assert group["hparams"]["data.n_steps"] == float(overrides["data.n_steps"])
            assert group["hparams"]["model.cell"] == overrides["model"]
            values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
            assert values["hp/val_rmse"] == pytest.approx(metrics["val_rmse"], rel=1e-5)
            assert values["hp/skill"] == pytest.approx(metrics["skill"], rel=1e-5)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
