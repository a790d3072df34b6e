"""model.combination=persistence: the weight's closed form, and runs whose reported forecast is
persistence + w * (network - persistence) with w fit on validation only, kept for eval and predict."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from stockrnn.errors import StockrnnError
from stockrnn.backtest import backtest
from stockrnn.eval import evaluate_checkpoint
from stockrnn.outputs.console import print_results
from stockrnn.models.combination import combine, fit_weights, weights_from_sums
from stockrnn.predict import forecast
from stockrnn.train import train
from stockrnn.utils.config import check_distribution_settings

from conftest import compose_config, synthetic_prices
from test_panel import QUICK as PANEL_QUICK, random_walks, written

QUICK = ["trainer=cpu", "trainer.max_epochs=2", "data.n_steps=5", "model.hidden_size=8", "torch_threads=1",
         "data.train_start=null", "data.train_end=2016-06", "data.test_start=2016-07", "data.test_end=null"]
# Six decimals in predictions.csv: agreement to that.
CSV_DIGITS = dict(rel=1e-5, abs=2e-6)


# The closed form -----------------------------------------------------------------------------------

def test_the_weight_recovers_a_known_mix_of_network_and_persistence():
    rng = np.random.default_rng(0)
    persistence = 100 + np.cumsum(rng.normal(0, 1, (5000, 1)), axis=0)
    network = persistence + rng.normal(0, 1, (5000, 1))
    actual = persistence + 0.3 * (network - persistence) + rng.normal(0, 0.05, (5000, 1))
    assert fit_weights(actual, network, persistence) == pytest.approx([0.3], abs=0.01)


def test_a_network_without_signal_gets_a_weight_near_zero():
    rng = np.random.default_rng(1)
    persistence = np.full((5000, 2), 50.0)
    network = persistence + rng.normal(0, 1, (5000, 2))  # moves that have nothing to do with the target
    actual = persistence + rng.normal(0, 1, (5000, 2))
    assert np.all(fit_weights(actual, network, persistence) < 0.05)


def test_the_weight_is_clipped_to_zero_and_one_and_zero_where_the_network_is_persistence():
    persistence = np.zeros((4, 3))
    network = np.array([[1.0, 1.0, 0.0]] * 4)
    actual = np.array([[-1.0, 3.0, 5.0]] * 4)  # against the network, twice as far as it, anything
    assert fit_weights(actual, network, persistence).tolist() == [0.0, 1.0, 0.0]
    assert weights_from_sums(np.array([0.5, -1.0]), np.array([1.0, 0.0])).tolist() == [0.5, 0.0]


def test_the_combination_moves_each_step_by_its_own_weight():
    network, persistence = np.array([[2.0, 4.0]]), np.array([[1.0, 1.0]])
    assert combine(network, persistence, np.array([0.5, 0.0])).tolist() == [[1.5, 1.0]]


def test_a_distribution_with_a_combination_is_refused_naming_both_keys():
    with pytest.raises(StockrnnError, match="model.combination=persistence.*model.distribution=quantile"):
        check_distribution_settings({"distribution": "quantile", "combination": "persistence"})
    with pytest.raises(StockrnnError, match="model.combination='ridge'"):
        check_distribution_settings({"combination": "ridge"})


# A run of one series -------------------------------------------------------------------------------

def run(csv, run_dir, *overrides: str) -> dict:
    train(compose_config([*QUICK, "data=csv", f"data.path={csv}", *overrides], run_dir))
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same seed with and without the combination, and the combination again on a CSV whose
    test prices differ: {name: (run dir, metrics)}, and the CSV."""
    root = tmp_path_factory.mktemp("combination")
    prices = synthetic_prices(periods=500)
    csv = written(prices, root / "prices.csv")
    test_days = prices["Date"] >= "2016-07"
    changed = prices.copy()
    changed.loc[test_days, ["Open", "High", "Low", "Close"]] *= 1.1
    changed_csv = written(changed, root / "changed.csv")
    return {name: (root / name, run(path, root / name, f"model.combination={combination}"))
            for name, path, combination in (("none", csv, "none"), ("combined", csv, "persistence"),
                                            ("changed", changed_csv, "persistence"))}, csv


def test_the_reported_forecast_is_persistence_plus_w_times_the_networks_move(runs):
    (none_dir, none), (combined_dir, combined), _ = runs[0].values()
    w = combined["combination_weight"]
    assert 0 <= w <= 1 and "combination_weight" not in none and "network_rmse" not in none
    for file in ("predictions.csv", "val_predictions.csv"):
        network, ours = pd.read_csv(none_dir / file), pd.read_csv(combined_dir / file)
        expected = network["persistence"] + w * (network["predicted"] - network["persistence"])
        np.testing.assert_allclose(ours["predicted"], expected, rtol=1e-6, atol=2e-6)
        np.testing.assert_allclose(ours["network"], network["predicted"], rtol=0, atol=1e-6)
    # The network is the same (fit before the weight): its own figures are the plain run's.
    assert combined["network_val_rmse"] == pytest.approx(none["val_rmse"], rel=1e-9)
    assert combined["network_rmse"] == pytest.approx(none["test_rmse"], rel=1e-9)
    assert combined["persistence_val_rmse"] == none["persistence_val_rmse"]


def test_the_weight_is_the_least_squares_one_on_the_validation_windows(runs):
    (_, _), (combined_dir, combined), _ = runs[0].values()
    val = pd.read_csv(combined_dir / "val_predictions.csv")
    fit = fit_weights(*(val[[column]].to_numpy() for column in ("actual", "network", "persistence")))
    assert combined["combination_weight"] == pytest.approx(float(fit[0]), abs=1e-4)
    assert combined["val_rmse"] == pytest.approx(float(np.sqrt(np.mean((val["predicted"] - val["actual"]) ** 2))),
                                                 **CSV_DIGITS)
    # In-sample for w: the combination is never worse on validation than the network alone.
    assert combined["val_rmse"] <= combined["network_val_rmse"] + 1e-9


def test_with_revin_the_weight_is_fit_on_the_mapped_back_forecasts(tmp_path):
    # data.window_norm=revin: the network's outputs are per-window normalized; the weight must be fit
    # on its forecasts in prices (mapped back), the ones val_predictions.csv holds.
    csv = written(synthetic_prices(periods=500), tmp_path / "prices.csv")
    metrics = run(csv, tmp_path / "run", "model.combination=persistence", "data.window_norm=revin",
                  "data.transform=log_return", "data.features=[High.log_return,Low/High]")
    val = pd.read_csv(tmp_path / "run" / "val_predictions.csv")
    fit = fit_weights(*(val[[column]].to_numpy() for column in ("actual", "network", "persistence")))
    assert metrics["combination_weight"] == pytest.approx(float(fit[0]), abs=1e-4)


def test_test_prices_do_not_change_the_weight(runs):
    (_, _), (_, combined), (_, changed) = runs[0].values()
    assert changed["combination_weight"] == combined["combination_weight"]
    assert changed["test_rmse"] != combined["test_rmse"]


def test_eval_and_predict_use_the_checkpoints_weight(runs, tmp_path):
    (_, _), (combined_dir, combined), _ = runs[0].values()
    csv = runs[1]
    ckpt = combined_dir / "checkpoints" / "best.ckpt"
    assert torch.load(ckpt, weights_only=True)["combination_weights"] == [[combined["combination_weight"]]]
    evaluated = evaluate_checkpoint(compose_config([f"ckpt_path={ckpt}"], tmp_path / "eval", config_name="eval"))
    for key in ("combination_weight", "val_rmse", "test_rmse", "network_val_rmse", "network_rmse"):
        assert evaluated[key] == pytest.approx(combined[key], rel=1e-9), key
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "eval" / "predictions.csv"),
                                  pd.read_csv(combined_dir / "predictions.csv"))
    # predict: the last known Close pulled towards the network's next-day forecast by the same w.
    table, target = forecast(str(ckpt), str(csv))
    plain = runs[0]["none"][0] / "checkpoints" / "best.ckpt"
    network, _ = forecast(str(plain), str(csv))
    last = pd.read_csv(csv)[target].iloc[-1]
    w = combined["combination_weight"]
    assert table["forecast"].iloc[0] == pytest.approx(last + w * (network["forecast"].iloc[0] - last), rel=1e-9)


def test_the_closing_lines_say_the_weight(runs, capsys):
    (_, none), (combined_dir, combined), _ = runs[0].values()
    print_results(combined, combined_dir)
    said = capsys.readouterr().out
    assert (f"combined with persistence: weight {combined['combination_weight']:.3f} on the network, fit on "
            f"validation; the network alone: val_rmse {combined['network_val_rmse']:.4f}") in said
    print_results(none, combined_dir)
    assert "combined with persistence" not in capsys.readouterr().out


# A panel: a weight per series and step ------------------------------------------------------------

def test_a_panel_fits_a_weight_per_series_and_step_on_its_own_validation_windows(tmp_path):
    csv = written(random_walks(), tmp_path / "panel.csv")
    train(compose_config([*PANEL_QUICK, f"data.path={csv}", "model.combination=persistence"], tmp_path / "run"))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    per_series = pd.read_csv(tmp_path / "run" / "per_series.csv")
    val = pd.read_csv(tmp_path / "run" / "val_predictions.csv")
    stored = np.array(torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt",
                                 weights_only=True)["combination_weights"])
    assert stored.shape == (3, 2)  # series x horizon
    for k, (name, rows) in enumerate(val.groupby("series", sort=False)):
        steps = [rows[rows["horizon"] == step] for step in (1, 2)]
        fit = [fit_weights(*(step[[c]].to_numpy() for c in ("actual", "network", "persistence")))[0]
               for step in steps]
        np.testing.assert_allclose(stored[k], fit, atol=1e-4)
        row = per_series[per_series["series"] == name].iloc[0]
        assert row["combination_weight"] == pytest.approx(stored[k].mean(), rel=1e-6)
        for step, weight in zip(steps, stored[k]):
            np.testing.assert_allclose(step["predicted"], step["persistence"] + weight * (step["network"]
                                       - step["persistence"]), rtol=1e-6, atol=2e-6)
    assert metrics["combination_weight"] == pytest.approx(stored.mean(), rel=1e-9)
    assert [metrics["combination_weight_step1"], metrics["combination_weight_step2"]] == pytest.approx(
        stored.mean(axis=0).tolist(), rel=1e-9)


def test_a_backtests_folds_each_fit_their_own_weight(tmp_path):
    csv = written(synthetic_prices(), tmp_path / "prices.csv")
    metrics, _ = backtest(compose_config([*QUICK, "data=csv", f"data.path={csv}", "model.combination=persistence",
                                          "backtest.folds=2", "backtest.test_length=40"],
                                         tmp_path / "backtest", config_name="backtest"))
    rows = pd.read_csv(tmp_path / "backtest" / "backtest.csv")
    assert len(rows) == 2 and rows["combination_weight"].between(0, 1).all()
    for fold in rows.itertuples():  # each fold's row is its run's metrics.json
        run = json.loads((tmp_path / "backtest" / "folds" / str(fold.fold) / "metrics.json").read_text())
        assert (fold.combination_weight, fold.network_val_rmse) == pytest.approx(
            (run["combination_weight"], run["network_val_rmse"]), rel=1e-6)
    assert metrics["combination_weight"] == pytest.approx(rows["combination_weight"].mean(), rel=1e-6)
    assert {"network_val_rmse", "network_rmse"} <= set(metrics)
