"""hparams_search=optuna for real: a TPE study of 3 trials where impossible windows fail, stored in
SQLite and resumed by a second command."""

import json

import optuna
import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir

from stockrnn.utils.config import CONFIG_DIR

from conftest import run_module

# Fixed values leave the search; data.n_steps=choice(...) on the command line replaces its range.
QUICK = ["trainer=debug", "model.hidden_size=8", "model.num_layers=1", "data.n_steps=choice(3,5000)"]


def test_the_search_space_covers_what_the_issue_names():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    assert sweeper.direction == "minimize" and sweeper.sampler.seed == cfg.seed
    assert set(sweeper.params) == {"data.n_steps", "model.hidden_size", "model.num_layers", "model.optimizer.lr",
                                   "model.dropout", "model.cell"}
    assert sweeper.params["model.optimizer.lr"] == "tag(log, interval(0.0001, 0.01))"


@pytest.mark.slow
def test_a_study_records_failed_trials_goes_on_and_resumes_from_sqlite(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = ["hparams_search=optuna", f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=t"]
    first = run_module("stockrnn.train", "-m", f"hydra.sweep.dir={tmp_path / 'a'}", *study,
                       "hydra.sweeper.n_trials=3", *QUICK)
    table = pd.read_csv(tmp_path / "a" / "summary.csv")
    n_failed = int((table["status"] == "failed").sum())
    # with the sampler's seed (42) both outcomes occur: a failed trial did not end the study
    assert len(table) == 3 and 0 < n_failed < 3, table
    assert first.returncode == 1 and f"{n_failed} of 3 jobs failed" in first.stderr
    assert (table["status"] == "failed").eq(table["data.n_steps"] == 5000).all()

    results = yaml.safe_load((tmp_path / "a" / "optimization_results.yaml").read_text())
    best = table.iloc[0]
    assert results["best_value"] == pytest.approx(best["val_rmse"])
    assert results["best_params"]["data.n_steps"] == 3
    assert results["best_params"]["model.cell"] == best["model.cell"]
    assert json.loads((tmp_path / "a" / str(best["job"]) / "metrics.json").read_text())["val_rmse"] == \
        pytest.approx(results["best_value"])

    # Resume: the same storage and study name add trials to the same study.
    run_module("stockrnn.train", "-m", f"hydra.sweep.dir={tmp_path / 'b'}", *study, "hydra.sweeper.n_trials=1",
               *QUICK)
    trials = optuna.load_study(study_name="t", storage=storage).trials
    states = [t.state for t in trials]
    assert len(trials) == 4
    assert states[:3].count(optuna.trial.TrialState.FAIL) == n_failed
    assert all(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL) for s in states)
    assert (tmp_path / "b" / "optimization_results.yaml").is_file()


@pytest.mark.slow
def test_a_search_over_backtests_minimizes_their_objective(tmp_path):
    result = run_module("stockrnn.backtest", "-m", f"hydra.sweep.dir={tmp_path}", "hparams_search=optuna",
                        "hydra.sweeper.n_trials=2", "backtest.folds=2", "trainer=debug", "model.hidden_size=8",
                        "model.num_layers=1", "data.n_steps=choice(3,5)")
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "summary.csv")
    assert len(table) == 2 and (table["status"] == "ok").all() and table["objective"].is_monotonic_increasing
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    best = json.loads((tmp_path / str(table.loc[0, "job"]) / "metrics.json").read_text())
    assert results["best_value"] == pytest.approx(best["objective"])
