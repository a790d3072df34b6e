"""Walk-forward backtests: where the folds lie, that a fold is exactly a train run, what a backtest
leaves and returns, and a sweep of backtests in which one configuration cannot run."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from stockrnn import backtest as backtest_module
from stockrnn.backtest import backtest
from stockrnn.training.checkpoints import load_checkpoint
from stockrnn.data.features import add_derived
from stockrnn.data.prices import load_embedded
from stockrnn.errors import StockrnnError
from stockrnn.training.folds import check_folds, plan_folds
from stockrnn.train import train

from conftest import compose_config, run_module

# Embedded MSFT (data ends 2017-11-10): three annual folds testing 2015, 2016 and 2017.
QUICK = ["trainer=cpu", "trainer.max_epochs=2", "trainer.deterministic=true", "data.n_steps=5",
         "model.hidden_size=8", "torch_threads=1", "data.train_start=2011", "backtest.folds=3"]
DATES = pd.bdate_range("2010-01-01", "2021-10-11")
FEATURES = ("High.log_return", "Open/High", "Low/High", "Close/High")  # conf/data/default.yaml


def folds(**settings):
    backtest_cfg = {"folds": 5, "test_length": "1Y", "window": "expanding", "train_length": None} | settings
    data = {"train_start": settings.pop("train_start", 2012), "test_end": settings.pop("test_end", 2021)}
    return plan_folds(DATES, backtest_cfg, data)


def test_annual_folds_are_contiguous_years_ending_at_test_end():
    plan = folds()
    assert [(f.test_start, f.test_end) for f in plan] == [
        (f"{y}-01-01", f"{y}-12-31") for y in range(2017, 2022)]
    for fold in plan:
        assert fold.train_start == "2012-01-01"  # expanding: every fold from data.train_start
        assert pd.Timestamp(fold.train_end) < pd.Timestamp(fold.test_start)


@pytest.mark.parametrize("settings", [
    {"test_length": "6M"}, {"test_length": "3M", "folds": 7}, {"test_length": 63},
    {"test_length": "1Y", "window": "sliding", "train_length": "3Y"},
    {"test_length": 20, "window": "sliding", "train_length": 500, "test_end": None},
])
def test_folds_never_overlap_and_each_trains_before_its_test(settings):
    plan = folds(**settings)
    assert len(plan) == settings.get("folds", 5) and [f.number for f in plan] == list(range(1, len(plan) + 1))
    for before, after in zip(plan, plan[1:]):
        # contiguous: the next test period starts the day after this one ends, and trains up to it
        assert pd.Timestamp(after.test_start) == pd.Timestamp(before.test_end) + pd.Timedelta(days=1)
        assert after.train_end == before.test_end
    for fold in plan:
        assert pd.Timestamp(fold.train_end) + pd.Timedelta(days=1) == pd.Timestamp(fold.test_start)
        if settings.get("window") == "sliding":
            train_days = ((DATES >= fold.train_start) & (DATES <= fold.train_end)).sum()
            if isinstance(settings["train_length"], int):
                assert train_days == settings["train_length"]
            else:
                assert pd.Timestamp(fold.train_start) == pd.Timestamp(fold.test_start) - pd.DateOffset(years=3)
    # The last fold ends at data.test_end (2021: its last day), or with lengths in trading days at
    # the last trading day up to it; with test_end null at the data's last day.
    trading_days = isinstance(settings["test_length"], int)
    last = DATES[-1] if settings.get("test_end", 2021) is None or trading_days else pd.Timestamp("2021-12-31")
    assert pd.Timestamp(plan[-1].test_end) == last
    if trading_days:  # trading days: each test period holds exactly that many
        for fold in plan:
            assert ((DATES >= fold.test_start) & (DATES <= fold.test_end)).sum() == settings["test_length"]


@pytest.mark.parametrize("settings, message", [
    ({"folds": 0}, "backtest.folds=0: expected a positive integer"),
    ({"test_length": "1W"}, "backtest.test_length='1W': expected years or months such as 1Y, 6M, 3M"),
    ({"window": "rolling"}, "backtest.window='rolling': expected one of expanding, sliding"),
    ({"window": "sliding"}, "backtest.window=sliding needs backtest.train_length"),
])
def test_bad_backtest_settings_are_named(settings, message):
    with pytest.raises(StockrnnError, match=message.replace("(", r"\(").replace(")", r"\)")):
        folds(**settings)


def test_a_fold_without_enough_training_windows_is_named_with_its_dates():
    plan = folds(train_start=2016, folds=6)  # fold 1 tests 2016: nothing before it to train on
    with pytest.raises(StockrnnError, match=r"^fold 1 \(train 2016-01-01..2015-12-31, test 2016-01-01..2016-12-31\)"):
        check_folds(plan, DATES, {"n_steps": 5, "horizon": 1, "val_fraction": 0.2})


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("backtest")
    metrics, results = backtest(compose_config(QUICK, out, config_name="backtest"))
    return out, metrics, results


def test_a_backtest_leaves_its_files_and_pooled_metrics(finished):
    out, metrics, results = finished
    rows = pd.read_csv(out / "backtest.csv")
    assert rows["fold"].tolist() == [1, 2, 3]
    assert rows["test_start"].tolist() == ["2015-01-02", "2016-01-04", "2017-01-03"]  # first trading days
    assert rows["test_end"].tolist() == ["2015-12-31", "2016-12-30", "2017-11-10"]  # MSFT ends 2017-11-10
    assert (pd.to_datetime(rows["train_end"]) < pd.to_datetime(rows["val_start"])).all()
    assert (pd.to_datetime(rows["val_end"]) < pd.to_datetime(rows["test_start"])).all()
    for column in ("val_rmse", "persistence_val_rmse", "test_rmse", "persistence_rmse", "linear_rmse", "skill",
                   "linear_skill", "dm_pvalue_persistence", "dm_pvalue_linear", "pt_pvalue", "epochs",
                   "train_seconds", "n_test"):
        assert rows[column].notna().all(), column
    written = json.loads((out / "metrics.json").read_text())
    assert written == pytest.approx(metrics)
    assert written["folds"] == 3 and written["n_test"] == rows["n_test"].sum()
    assert written["objective"] == pytest.approx(np.mean(rows["val_rmse"] / rows["persistence_val_rmse"]))
    assert written["skill_mean"] == pytest.approx(rows["skill"].mean())
    assert written["skill_min"] == pytest.approx(rows["skill"].min())
    assert written["folds_beating_linear"] == (rows["test_rmse"] < rows["linear_rmse"]).sum()
    assert written["epochs"] == rows["epochs"].sum() == 6

    predictions = pd.read_csv(out / "predictions.csv")
    # The default combines the network with persistence: its own forecast is kept beside.
    assert list(predictions.columns) == ["date", "fold", "actual", "predicted", "network", "persistence", "linear"]
    assert predictions["date"].is_monotonic_increasing and predictions["date"].is_unique
    assert len(predictions) == written["n_test"]
    pooled_rmse = np.sqrt(np.mean((predictions["predicted"] - predictions["actual"]) ** 2))
    assert written["test_rmse"] == pytest.approx(pooled_rmse, rel=1e-5)
    for fold in (1, 2, 3):
        fold_dir = out / "folds" / str(fold)
        assert (fold_dir / "metrics.json").is_file() and (fold_dir / "checkpoints" / "best.ckpt").is_file()
        fold_metrics = json.loads((fold_dir / "metrics.json").read_text())
        assert rows.loc[fold - 1, "test_rmse"] == pytest.approx(fold_metrics["test_rmse"], rel=1e-5)
        assert list((fold_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert (out / "backtest.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "val_predictions.csv").is_file()
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))  # the backtest's HParams session


def test_each_folds_scalers_come_from_its_own_training_rows(finished):
    out, _, results = finished
    rows = pd.read_csv(out / "backtest.csv")
    features = list(FEATURES)  # the default inputs: High's log return and the intraday ratios
    frame = add_derived(load_embedded("msft"), features)[features]
    for fold in (1, 2, 3):
        restored = load_checkpoint(out / "folds" / str(fold) / "checkpoints" / "best.ckpt")
        assert restored.data_state["features"] == features
        scaler = restored.data_state["feature_scaler"]
        low, high = np.asarray(scaler["offset"]), np.asarray(scaler["offset"]) + np.asarray(scaler["scale"])
        train_rows = frame[(frame.index >= "2011-01-01") & (frame.index <= rows.loc[fold - 1, "val_end"])]
        assert low == pytest.approx(train_rows.min().to_numpy())
        assert high == pytest.approx(train_rows.max().to_numpy())
        # ... and the later test days played no part: some input leaves that range there in every fold
        test_rows = frame[frame.index >= rows.loc[fold - 1, "test_start"]]
        assert ((test_rows.min().to_numpy() < low) | (test_rows.max().to_numpy() > high)).any()


def test_a_fold_is_exactly_a_train_run_with_the_folds_dates(finished, tmp_path):
    out, _, results = finished
    fold = results[1].fold
    bounds = [f"data.{key}={value}" for key, value in fold.bounds().items()]
    metrics, _ = train(compose_config([q for q in QUICK if not q.startswith("backtest.")] + bounds, tmp_path))
    fold_metrics = json.loads((out / "folds" / "2" / "metrics.json").read_text())
    for key in ("val_rmse", "test_rmse", "persistence_rmse", "linear_rmse", "dm_pvalue_linear", "n_test"):
        assert metrics[key] == pytest.approx(fold_metrics[key], rel=1e-9), key
    assert (pd.read_csv(tmp_path / "predictions.csv")["predicted"].to_numpy()
            == pytest.approx(pd.read_csv(out / "folds" / "2" / "predictions.csv")["predicted"].to_numpy()))


def test_warm_start_starts_each_fold_from_the_previous_folds_best_weights(tmp_path, monkeypatch):
    given = []
    real_train = backtest_module.train

    def recording_train(cfg):
        given.append(cfg.get("init_weights"))
        if given[-1]:  # the weights the fold starts from are that file's, before any step
            saved = torch.load(given[-1], weights_only=True)["state_dict"]
            assert saved and all(torch.isfinite(v).all() for v in saved.values())
        return real_train(cfg)

    monkeypatch.setattr(backtest_module, "train", recording_train)
    backtest(compose_config(QUICK + ["backtest.folds=2", "backtest.warm_start=true"], tmp_path,
                            config_name="backtest"))
    assert given == [None, str(tmp_path / "folds" / "1" / "checkpoints" / "best.ckpt")]


def test_init_weights_loads_the_network_weights_before_the_fit(tmp_path):
    first = tmp_path / "first"
    _, objects = train(compose_config(QUICK[:-1] + ["data.train_start=2012"], first))
    best = first / "checkpoints" / "best.ckpt"
    second = tmp_path / "second"
    cfg = compose_config(QUICK[:-1] + ["data.train_start=2012", f"init_weights={best}",
                                       "+trainer.limit_train_batches=0"], second)
    _, objects = train(cfg)  # no training step: the weights are the loaded ones
    saved = torch.load(best, weights_only=True)["state_dict"]
    for name, value in objects["model"].state_dict().items():
        torch.testing.assert_close(value, saved[name])


@pytest.mark.slow
def test_a_backtest_sweep_with_an_impossible_configuration_goes_on(tmp_path):
    sweep_dir = tmp_path / "sweep"
    # From 2012, not the default 2000: a third of the training windows, and 1100 steps still too many.
    result = run_module("stockrnn.backtest", "-m", f"hydra.sweep.dir={sweep_dir}", "trainer=debug",
                        "model.hidden_size=8", "torch_threads=1", "backtest.folds=2", "data.train_start=2012",
                        "data.n_steps=5,1100")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "stockrnn: error: 1 of 2 jobs failed" in result.stderr
    error = json.loads((sweep_dir / "1" / "error.json").read_text())["error"]
    assert error.startswith("fold 1 (train 2012-01-01..2015-12-31, test 2016-01-01..2016-12-31): the train "
                            "range 2012-01-01..2015-12-31 has 1006 rows; n_steps=1100")
    assert not (sweep_dir / "1" / "metrics.json").exists() and not (sweep_dir / "1" / "folds").exists()
    assert yaml.safe_load((sweep_dir / "0" / ".hydra" / "overrides.yaml").read_text())[-1] == "data.n_steps=5"
    metrics = json.loads((sweep_dir / "0" / "metrics.json").read_text())
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert summary["status"].tolist() == ["ok", "failed"]
    assert summary.loc[0, "objective"] == pytest.approx(metrics["objective"])
    assert {"folds_beating_persistence", "folds_beating_linear", "dm_pvalue_linear", "in_mcs"} <= set(summary)


def test_a_fold_that_fails_is_named_and_leaves_no_pooled_metrics(tmp_path):
    cfg = compose_config(QUICK + ["model=rnn", "model.nonlinearity=relu", "model.optimizer.lr=1e30"], tmp_path,
                         config_name="backtest")
    with pytest.raises(StockrnnError, match=r"^fold 1 \(train 2011-01-01..2014-12-31, test 2015-01-01..2015-12-31\): "
                                            "the training loss became nan"):
        backtest(cfg)
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "backtest.csv").exists()


def test_calendar_folds_keep_month_ends():
    plan = folds(test_length="6M", folds=3, test_end="2021-06")
    assert [(f.test_start, f.test_end) for f in plan] == [
        ("2020-01-01", "2020-06-30"), ("2020-07-01", "2020-12-31"), ("2021-01-01", "2021-06-30")]


def test_a_backtest_ignores_the_split_bounds_it_replaces_and_refuses_to_resume(tmp_path):
    from stockrnn.utils.config import check_config

    # The default data's train_end (2016) and test_start (2017) lie after this test_end: the folds
    # replace both, so only the backtest's own bounds are checked.
    cfg = compose_config(QUICK + ["data.test_end=2015"], tmp_path, config_name="backtest")
    check_config(cfg, split_bounds=False)
    with pytest.raises(StockrnnError, match="must come after|is after"):
        check_config(cfg)
    assert [f.test_end for f in backtest_module.folds_of(cfg)] == ["2013-12-31", "2014-12-31", "2015-12-31"]
    resuming = compose_config(QUICK + ["ckpt_path=last.ckpt"], tmp_path, config_name="backtest")
    with pytest.raises(StockrnnError, match="a backtest is not resumed"):
        backtest(resuming)


def test_a_fold_with_less_than_a_year_of_training_windows_is_warned_about_with_its_numbers(caplog):
    # Folds test 2014..2016 and train from 2013: fold 1 on 2013 alone (261 weekdays: 256 windows
    # at n_steps=5, 204 of them for training), the others on two years and more.
    plan = folds(train_start=2013, test_end=2016, folds=3)
    with caplog.at_level("WARNING", logger="stockrnn.training.folds"):
        check_folds(plan, DATES, {"n_steps": 5, "horizon": 1, "val_fraction": 0.2, "train_start": 2013})
    assert [record.getMessage() for record in caplog.records] == [
        "fold 1 (train 2013-01-01..2013-12-31, test 2014-01-01..2014-12-31): 204 training windows (and 52 "
        "validation windows), fewer than 250 (about a trading year): it learns from less than a year of "
        "prices. Give it more history: an earlier data.train_start (now 2013), fewer backtest.folds or a "
        "shorter backtest.test_length (with backtest.window=sliding, a longer backtest.train_length)"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="stockrnn.training.folds"):  # from 2012: every fold has a year
        check_folds(folds(train_start=2012, test_end=2016, folds=3), DATES,
                    {"n_steps": 5, "horizon": 1, "val_fraction": 0.2, "train_start": 2012})
    assert not caplog.records
