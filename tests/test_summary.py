"""The sweep leaderboard from job directories written by hand: rows, order, seed means, files,
the report command and the end-of-multirun callback (the real sweeps are in test_sweeps.py)."""

import json
import tomllib
from importlib import import_module

import numpy as np
import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from stockrnn.evaluation.confidence_set import validation_losses
from stockrnn.report import SweepSummary, main as report_main
from stockrnn.outputs.summary import summarize, write_summary

from conftest import REPO_ROOT, run_module


def add_job(sweep, num, overrides, metrics=None, error=None):
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    if error is not None:
        (job / "error.json").write_text(json.dumps({"error": error, "type": "StockrnnError", "traceback": ""}))


def metrics(val, test=2.0, epochs=5):
    return {"val_rmse": val, "test_rmse": test, "persistence_rmse": 1.0, "skill": 1 - test,
            "linear_rmse": 1.1, "linear_skill": 0.0, "n_test": 218, "epochs": epochs, "train_seconds": 1.5}


@pytest.fixture
def sweep(tmp_path):
    """model x seed, two seeds each; one job failed, one never finished (no metrics, no error)."""
    sweep = tmp_path / "sweep"
    add_job(sweep, 0, ["trainer=debug", "model=rnn", "seed=0"], metrics(3.0, test=4.0))
    add_job(sweep, 1, ["trainer=debug", "model=rnn", "seed=1"], metrics(5.0, test=6.0))
    add_job(sweep, 2, ["trainer=debug", "model=gru", "seed=0"], metrics(1.0, test=2.0, epochs=7))
    add_job(sweep, 3, ["trainer=debug", "model=gru", "seed=1"], metrics(2.0, test=2.5, epochs=9))
    add_job(sweep, 4, ["trainer=debug", "model=lstm", "seed=0"], error="n_steps=5000 is too long")
    add_job(sweep, 10, ["trainer=debug", "model=lstm", "seed=1"])
    return sweep


def test_one_row_per_job_sorted_by_val_rmse_with_status_and_error(sweep):
    summary = summarize(sweep)
    jobs = summary.jobs
    assert summary.swept == ["model", "seed"]  # trainer=debug is the same everywhere
    assert jobs["job"].tolist() == [2, 3, 0, 1, 4, 10]
    assert jobs["status"].tolist() == ["ok"] * 4 + ["failed", "unfinished"]
    assert jobs.loc[4, "error"] == "n_steps=5000 is too long" and jobs.loc[0, "error"] == ""
    assert jobs.loc[0, "overrides"] == "trainer=debug model=gru seed=0"
    assert jobs["seed"].tolist() == [0, 1, 0, 1, 0, 1]
    assert summary.describe() == "6 jobs: 4 ok, 1 failed, 1 unfinished" and summary.n_not_ok == 2


def test_seed_means_per_configuration(sweep):
    configs = summarize(sweep).configs
    assert configs["model"].tolist() == ["gru", "rnn"]  # lstm has no finished job
    assert configs["runs"].tolist() == [2, 2]
    assert configs["val_rmse_mean"].tolist() == pytest.approx([1.5, 4.0])
    assert configs["val_rmse_std"].tolist() == pytest.approx([0.5 ** 0.5, 2 ** 0.5])
    assert configs["epochs_mean"].tolist() == pytest.approx([8.0, 5.0])


def test_no_seed_means_without_repeated_seeds(tmp_path):
    add_job(tmp_path, 0, ["model=rnn", "data.n_steps=3"], metrics(2.0))
    add_job(tmp_path, 1, ["model=rnn", "data.n_steps=10"], metrics(1.0))
    summary = write_summary(tmp_path)
    assert summary.configs is None and summary.swept == ["data.n_steps"]
    assert summary.jobs["data.n_steps"].tolist() == [10, 3]
    assert not (tmp_path / "summary_by_config.csv").exists()


def test_write_summary_leaves_csv_markdown_and_picture(sweep):
    write_summary(sweep)
    table = pd.read_csv(sweep / "summary.csv")
    assert len(table) == 6 and table["val_rmse"].tolist()[:4] == [1.0, 2.0, 3.0, 5.0]
    assert table["error"].fillna("").tolist()[4:] == ["n_steps=5000 is too long", ""]
    assert {"job", "model", "seed", "status", "val_rmse", "test_rmse", "persistence_rmse", "skill",
            "linear_rmse", "linear_skill", "epochs", "train_seconds", "error", "overrides"} <= set(table)
    # in_mcs is empty: these hand-written jobs left no validation predictions to compare
    assert (sweep / "summary.csv").read_text().splitlines()[1].startswith("2,gru,0,ok,,1.0,2.0,")
    assert ",7,1.5," in (sweep / "summary.csv").read_text()  # epochs a whole number, not 7.0
    md = (sweep / "summary.md").read_text()
    assert "6 jobs: 4 ok, 1 failed, 1 unfinished" in md
    assert "| 4 | lstm | 0 | failed |" in md and "n_steps=5000 is too long" in md
    assert "| gru | 2 | 1.5 ± 0.7071 |" in md  # model, runs, val_rmse mean ± std
    assert pd.read_csv(sweep / "summary_by_config.csv")["runs"].tolist() == [2, 2]
    assert (sweep / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_report_command_rebuilds_and_prints(sweep, capsys):
    assert report_main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "6 jobs: 4 ok, 1 failed, 1 unfinished" in out and "| 2 | gru | 0 | ok | 1 |" in out
    assert (sweep / "summary.csv").is_file() and (sweep / "summary.png").is_file()


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "sweep directory not found"),
    (lambda d: d.mkdir(), "no jobs in"),
])
def test_report_of_a_wrong_directory_is_a_short_error(tmp_path, capsys, make, message):
    make(tmp_path / "nothing")
    with pytest.raises(SystemExit) as exit_info:
        report_main([str(tmp_path / "nothing")])
    assert exit_info.value.code == 1 and message in capsys.readouterr().err


def single_run(run_dir):
    """What a run without -m leaves: its overrides, and Hydra's record that it ran in RUN mode."""
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra/overrides.yaml").write_text(yaml.safe_dump(["model=gru"]))
    (run_dir / ".hydra/hydra.yaml").write_text(yaml.safe_dump({"hydra": {"mode": "RUN", "job": {"name": "train"}}}))
    (run_dir / "metrics.json").write_text(json.dumps(metrics(1.0)))


@pytest.mark.parametrize("runs, given, message", [
    (["2024-05-01_10-00-00_000001", "2024-05-02_11-00-00_000002"], "",
     " is not a sweep: 2 of its directories are single runs (e.g. 2024-05-01_10-00-00_000001); "),
    (["2024-05-01_10-00-00_000001"], "2024-05-01_10-00-00_000001", " is a single run, not a sweep; "),
])
def test_report_of_single_runs_is_refused_and_writes_nothing(tmp_path, runs, given, message):
    for name in runs:
        single_run(tmp_path / "runs" / name)
    before = sorted(tmp_path.rglob("*"))
    target = tmp_path / "runs" / given
    result = run_module("stockrnn.report", str(target))
    assert result.returncode == 1 and result.stderr == (
        f"stockrnn: error: {target}{message}expected a multirun directory with job directories "
        "<n>/.hydra/overrides.yaml (the sweep directory a -m run prints)\n")
    assert sorted(tmp_path.rglob("*")) == before


def test_callback_writes_the_summary_and_exits_1_when_a_job_failed(sweep, capsys):
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    with pytest.raises(SystemExit) as exit_info:
        SweepSummary().on_multirun_end(config=config)
    assert exit_info.value.code == 1
    assert "stockrnn: error: 2 of 6 jobs failed" in capsys.readouterr().err
    assert (sweep / "summary.md").is_file()


def test_callback_of_a_clean_sweep_returns_normally(tmp_path):
    add_job(tmp_path, 0, ["model=rnn"], metrics(2.0))
    SweepSummary().on_multirun_end(config=OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    assert (tmp_path / "summary.csv").is_file()


@pytest.mark.parametrize("script, entry", [("stockrnn-report", "stockrnn.report:main"),
                                           ("stockrnn-backtest", "stockrnn.backtest:main")])
def test_the_console_scripts_point_at_the_commands(script, entry):
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[script] == entry
    module, _, function = entry.partition(":")
    assert callable(getattr(import_module(module), function))


def add_validation_predictions(job_dir, actual, predicted, dates, fold=None):
    table = pd.DataFrame({"date": dates, "actual": actual, "predicted": predicted, "persistence": actual,
                          "linear": actual})
    if fold is not None:
        table.insert(1, "fold", fold)
    table.to_csv(job_dir / "val_predictions.csv", index=False)


def test_the_model_confidence_set_excludes_a_clearly_worse_configuration(tmp_path):
    # Three configurations x two seeds forecasting the same 120 validation days: two are alike,
    # the third's errors are three times larger every day. Job 6 forecast other (later) days too:
    # only the days every job shares are compared.
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2020-01-01", periods=150).strftime("%Y-%m-%d")
    actual = 100 + np.cumsum(rng.normal(size=150))
    for job, (model, seed, noise) in enumerate([("gru", 0, 1.0), ("gru", 1, 1.0), ("lstm", 0, 1.05),
                                                ("lstm", 1, 1.05), ("rnn", 0, 3.0), ("rnn", 1, 3.0)]):
        add_job(tmp_path, job, [f"model={model}", f"seed={seed}"], metrics(noise))
        first = 30 if job < 5 else 0
        errors = noise * rng.normal(size=150)
        add_validation_predictions(tmp_path / str(job), actual[first:], actual[first:] + errors[first:],
                                   dates[first:])
    summary = write_summary(tmp_path)
    in_mcs = dict(zip(summary.jobs["job"], summary.jobs["in_mcs"]))
    assert in_mcs[4] is False and in_mcs[5] is False
    assert all(in_mcs[job] for job in (0, 1, 2, 3))
    assert summary.mcs_days == 120
    assert "90% Model Confidence Set" in (tmp_path / "summary.md").read_text()


def test_backtest_jobs_are_ranked_by_their_objective(tmp_path):
    for job, (objective, val) in enumerate([(0.95, 3.0), (0.90, 4.0), (1.02, 1.0)]):
        add_job(tmp_path, job, [f"data.n_steps={job + 3}"],
                metrics(val) | {"objective": objective, "folds": 5, "folds_beating_linear": job})
    summary = write_summary(tmp_path)
    assert summary.jobs["job"].tolist() == [1, 0, 2] and summary.ranked_by == "objective"
    assert "sorted by objective" in (tmp_path / "summary.md").read_text()


def test_no_confidence_set_across_different_series_or_for_jobs_without_validation_predictions(tmp_path):
    dates = pd.bdate_range("2020-01-01", periods=60).strftime("%Y-%m-%d")
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(size=60))
    for job, level in enumerate([100.0, 100.0, 5000.0]):  # job 2 forecasts another series
        add_job(tmp_path, job, [f"data.n_steps={job + 3}"], metrics(1.0 + job))
        actual = level + walk
        add_validation_predictions(tmp_path / str(job), actual, actual + rng.normal(size=60), dates)
    add_job(tmp_path, 3, ["data.n_steps=9"], metrics(0.5))  # an older run: no val_predictions.csv
    summary = write_summary(tmp_path)
    assert summary.mcs_days == 0 and summary.jobs["in_mcs"].isna().all()
    (tmp_path / "2" / "val_predictions.csv").unlink()
    in_mcs = dict(zip(summary.jobs["job"], write_summary(tmp_path).jobs["in_mcs"]))
    assert in_mcs[0] is not None and in_mcs[1] is not None  # the two comparable jobs form a set
    assert pd.isna(in_mcs[2]) and pd.isna(in_mcs[3])  # never compared: neither in nor out


def test_jobs_with_other_horizons_are_compared_on_the_targets_they_share(tmp_path):
    dates = pd.bdate_range("2020-01-01", periods=40).strftime("%Y-%m-%d")
    rng = np.random.default_rng(2)
    actual = 100 + np.cumsum(rng.normal(size=40))
    add_job(tmp_path, 0, ["data.horizon=1"], metrics(1.0))
    add_validation_predictions(tmp_path / "0", actual, actual + rng.normal(0, 0.1, 40), dates)
    add_job(tmp_path, 1, ["data.horizon=2"], metrics(2.0))
    two_steps = pd.DataFrame({"date": np.repeat(dates[:-1], 2), "horizon": np.tile([1, 2], 39),
                              "actual": np.repeat(actual[:-1], 2), "predicted": np.repeat(actual[:-1], 2) + rng.normal(0, 3.0, 78)})
    two_steps[["persistence", "linear"]] = two_steps[["actual", "actual"]].to_numpy()
    two_steps.to_csv(tmp_path / "1" / "val_predictions.csv", index=False)
    summary = write_summary(tmp_path)
    assert summary.mcs_days == 39  # step 1 of the two-step job against the one-step job's days
    assert dict(zip(summary.jobs["job"], summary.jobs["in_mcs"])) == {0: True, 1: False}


def test_jobs_with_identical_validation_losses_are_one_candidate_of_the_set(tmp_path):
    """Same seed, calibrated or not: the same point forecasts. arch's MCS cannot compare identical
    columns; they enter once and share the verdict."""
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2020-01-01", periods=80).strftime("%Y-%m-%d")
    actual = 100 + np.cumsum(rng.normal(size=80))
    good, bad = actual + rng.normal(0, 0.5, 80), actual + rng.normal(0, 4.0, 80)
    for job, predicted in enumerate([good, good, bad, bad]):
        add_job(tmp_path, job, [f"model.calibration={'none' if job % 2 else 'conformal'}", f"seed={job // 2}"],
                metrics(1.0 + job))
        add_validation_predictions(tmp_path / str(job), actual, predicted, dates)
    jobs = write_summary(tmp_path).jobs
    assert dict(zip(jobs["job"], jobs["in_mcs"])) == {0: True, 1: True, 2: False, 3: False}


def test_distribution_jobs_are_compared_by_their_validation_crps(tmp_path):
    """Two jobs with the same median (the same squared errors) but intervals of different quality:
    by squared error they are one candidate; by CRPS the badly calibrated one is out."""
    rng = np.random.default_rng(4)
    dates = pd.bdate_range("2020-01-01", periods=200).strftime("%Y-%m-%d")
    actual = 100 + np.cumsum(rng.normal(size=200))
    median = actual + rng.normal(0, 1.0, 200)
    z = np.array([-1.645, -1.2816, -0.6745, 0.0, 0.6745, 1.2816, 1.645])
    for job, spread in enumerate([1.0, 0.05]):
        add_job(tmp_path, job, [f"model.quantiles_spread={spread}"], metrics(1.0))
        add_validation_predictions(tmp_path / str(job), actual, median, dates)
        table = pd.read_csv(tmp_path / str(job) / "val_predictions.csv")
        for level, shift in zip(("0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95"), z):
            table[f"q{level}"] = median + spread * shift
        table.to_csv(tmp_path / str(job) / "val_predictions.csv", index=False)
    summary = write_summary(tmp_path)
    assert dict(zip(summary.jobs["job"], summary.jobs["in_mcs"])) == {0: True, 1: False}
    assert "CRPS when every job forecast the same quantiles" in (tmp_path / "summary.md").read_text()


def test_panel_jobs_are_compared_series_by_series_on_the_series_they_share(tmp_path):
    """A panel's val_predictions.csv has a row per series and date: the targets are keyed by series
    too, so two panels line up on their shared series' days (not every series against every other)."""
    rng = np.random.default_rng(4)
    dates = pd.bdate_range("2020-01-01", periods=30).strftime("%Y-%m-%d")
    actual = {name: level + np.cumsum(rng.normal(size=30)) for name, level in (("AAA", 50), ("BBB", 90), ("CCC", 20))}
    for job, (names, noise) in enumerate([(("AAA", "BBB"), 0.3), (("AAA", "BBB", "CCC"), 3.0)]):
        add_job(tmp_path, job, [f"data.series=[{','.join(names)}]"], metrics(1.0 + job))
        table = pd.concat([pd.DataFrame({"series": name, "date": dates, "actual": actual[name],
                                         "predicted": actual[name] + rng.normal(0, noise, 30)}) for name in names])
        table[["persistence", "linear"]] = table[["actual", "actual"]].to_numpy()
        table.to_csv(tmp_path / str(job) / "val_predictions.csv", index=False)
    losses = validation_losses({job: tmp_path / str(job) for job in (0, 1)})
    assert losses.shape == (60, 2) and losses.index.is_unique  # AAA's and BBB's 30 days each
    summary = write_summary(tmp_path)
    assert summary.mcs_days == 60
    assert dict(zip(summary.jobs["job"], summary.jobs["in_mcs"])) == {0: True, 1: False}
