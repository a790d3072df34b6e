"""Forecast distributions: heads whose quantiles cannot cross, losses equal to scoringrules', conformal
calibration, and a distribution run end to end (metrics, files, eval and predict from its checkpoint)."""

import json

import numpy as np
import pandas as pd
import pytest
import scoringrules as sr
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stockrnn.models.calibration import apply_cross_fitted, calibrate, conformal_offsets, cross_fit_offsets, cross_fitted
from stockrnn.training.callbacks import EpochLog
from stockrnn.eval import evaluate_checkpoint
from stockrnn.training.forecast_tables import network_outputs
from stockrnn.models.distributions import DEFAULT_QUANTILES, NormalForecast, QuantileForecast
from stockrnn.models.forecaster import Forecaster
from stockrnn.predict import forecast, print_forecast
from stockrnn.outputs.console import print_results
from stockrnn.train import train

from conftest import compose_config, run_module, synthetic_prices

LEVELS = list(DEFAULT_QUANTILES)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([1e-3, 1.0, 30.0]),
       kind=st.sampled_from(["quantile", "normal"]))
def test_quantiles_never_cross_whatever_the_inputs_and_weights(seed, scale, kind):
    torch.manual_seed(seed)
    module = Forecaster(n_features=2, horizon=3, hidden_size=8, distribution=kind, quantiles=LEVELS)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.mul_(scale * torch.randn(()).abs() * 10)
    outputs = module(torch.randn(16, 5, 2) * scale)
    quantiles = module.kind.quantiles(outputs)
    assert quantiles.shape == (16, 3, len(LEVELS))
    assert (quantiles.diff(dim=-1) >= 0).all()


@given(st.lists(st.floats(-1e6, 1e6), min_size=len(LEVELS), max_size=len(LEVELS)))
def test_raw_quantile_outputs_of_any_size_give_ordered_quantiles(raw):
    quantiles = QuantileForecast(LEVELS).quantiles(torch.tensor(raw, dtype=torch.float64)[None, None])
    assert (quantiles.diff(dim=-1) >= 0).all()


def test_pinball_loss_and_crps_equal_the_library_on_known_values():
    head = QuantileForecast([0.1, 0.5, 0.9])
    outputs = torch.tensor([[[-1.0, 0.2, 0.7]], [[0.5, -3.0, 2.0]]], dtype=torch.float64)
    targets = torch.tensor([[0.3], [4.0]], dtype=torch.float64)
    quantiles = head.quantiles(outputs).numpy()
    library = sr.quantile_score(targets.numpy()[..., None], quantiles, np.array([0.1, 0.5, 0.9]),
                                backend="numpy")
    assert head.loss(outputs, targets).item() == pytest.approx(np.mean(library))
    # By hand for the first target: the median 0.2, softplus(-1) below it and softplus(0.7) above.
    q = [0.2 - np.log1p(np.exp(-1.0)), 0.2, 0.2 + np.log1p(np.exp(0.7))]
    by_hand = np.mean([max(t * (0.3 - v), (t - 1) * (0.3 - v)) for t, v in zip([0.1, 0.5, 0.9], q)])
    assert np.mean(library[0]) == pytest.approx(by_hand)
    module = Forecaster(n_features=1, distribution="quantile", quantiles=[0.1, 0.5, 0.9])
    crps = module.price_crps(module.codec, outputs.float(), targets.float(), torch.ones(2)) / 2  # identity codec
    expected = sr.crps_quantile(targets.numpy(), quantiles, np.array([0.1, 0.5, 0.9]), backend="numpy")
    assert crps.item() == pytest.approx(float(np.mean(expected)), rel=1e-5)


def test_the_normal_head_is_a_gaussian_likelihood_with_a_positive_scale():
    head = NormalForecast([0.05, 0.5, 0.95])
    outputs = torch.tensor([[[1.0, -30.0], [0.0, 2.0]]])
    targets = torch.tensor([[1.0, 0.5]])
    normal = head.distribution(outputs)
    assert (normal.scale > 0).all()
    assert head.loss(outputs, targets).item() == pytest.approx(-normal.log_prob(targets).mean().item())
    quantiles = head.quantiles(outputs)
    scale = np.log1p(np.exp(2.0)) + 1e-4
    assert quantiles[0, 1].numpy() == pytest.approx([-1.6448536 * scale, 0.0, 1.6448536 * scale], rel=1e-5)
    assert head.point(outputs).tolist() == [[1.0, 0.0]]


def coverage(actual, lower, upper):
    return float(np.mean((actual >= lower) & (actual <= upper)))


def test_conformal_calibration_brings_a_miscalibrated_models_coverage_to_nominal():
    rng = np.random.default_rng(0)
    targets = rng.normal(0, 1, (400, 1))
    too_narrow = np.array([-1.645, -1.2816, -0.6745, 0, 0.6745, 1.2816, 1.645]) * 0.3  # std 0.3, truth 1
    quantiles = np.broadcast_to(too_narrow, (400, 1, 7)).copy()
    assert coverage(targets, quantiles[..., 0], quantiles[..., 6]) < 0.5
    offsets = conformal_offsets(quantiles, targets, LEVELS)
    calibrated = calibrate(quantiles, offsets, LEVELS)
    for (low, high), nominal in (((2, 4), 0.5), ((1, 5), 0.8), ((0, 6), 0.9)):
        assert nominal <= coverage(targets, calibrated[..., low], calibrated[..., high]) <= nominal + 0.02
    assert (np.diff(calibrated, axis=-1) >= 0).all()
    np.testing.assert_array_equal(calibrated[..., 3], quantiles[..., 3])  # the median stays
    # Fresh draws from the same distribution: the calibrated 90% interval covers about 90%.
    fresh = rng.normal(0, 1, (4000, 1))
    assert coverage(fresh, calibrated[0, 0, 0], calibrated[0, 0, 6]) == pytest.approx(0.9, abs=0.03)


def test_calibration_narrows_too_wide_intervals_and_keeps_them_nested():
    rng = np.random.default_rng(1)
    targets = rng.normal(0, 1, (300, 2))
    too_wide = np.array([-1.645, -1.2816, -0.6745, 0, 0.6745, 1.2816, 1.645]) * 4
    quantiles = np.broadcast_to(too_wide, (300, 2, 7)).copy()
    calibrated = calibrate(quantiles, conformal_offsets(quantiles, targets, LEVELS), LEVELS)
    assert calibrated[0, 0, 6] - calibrated[0, 0, 0] < 0.5 * (too_wide[6] - too_wide[0])
    assert (np.diff(calibrated, axis=-1) >= 0).all()


DISTRIBUTION_RUN = ["data=csv", "data.train_start=2015", "data.train_end=2016", "data.test_start=2017",
                    "data.n_steps=5", "data.transform=log_return", "model.hidden_size=8", "trainer=cpu",
                    "trainer.max_epochs=15", "model.optimizer.lr=0.01", "seed=0"]


@pytest.fixture(scope="module")
def quantile_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("quantile_run")
    csv = run_dir / "prices.csv"
    synthetic_prices(periods=700).to_csv(csv, index=False)
    cfg = compose_config([*DISTRIBUTION_RUN, f"data.path={csv}", "model.distribution=quantile",
                          "model.calibration=conformal"], run_dir)
    metrics, objects = train(cfg)
    return run_dir, csv, metrics, objects


def test_a_quantile_run_reports_intervals_beside_both_baselines(quantile_run):
    run_dir, _, metrics, objects = quantile_run
    written = json.loads((run_dir / "metrics.json").read_text())
    for prefix in ("test_", "val_", "garch_", "climatology_", "garch_val_", "climatology_val_"):
        for score in ("crps", "pinball", "coverage_50", "coverage_80", "coverage_90", "width_80", "width_90",
                      "interval_score_90"):
            assert np.isfinite(written[prefix + score]), prefix + score
    assert written["crps_skill"] == pytest.approx(1 - written["test_crps"] / written["climatology_crps"])
    assert written["crps_skill_garch"] == pytest.approx(1 - written["test_crps"] / written["garch_crps"])
    assert written["objective"] == pytest.approx(written["val_crps"] / written["climatology_val_crps"])
    assert 0 <= written["dm_pvalue_crps_garch"] <= 1 and 0 <= written["dm_pvalue_crps_climatology"] <= 1
    table = pd.read_csv(run_dir / "predictions.csv")
    quantile_columns = [f"q{level:g}" for level in LEVELS]
    assert quantile_columns == [c for c in table.columns if c.startswith("q")]
    assert (np.diff(table[quantile_columns].to_numpy(), axis=1) >= 0).all()
    np.testing.assert_allclose(table["q0.5"], table["predicted"], atol=2e-6)  # the median is the point
    # The written columns give the written figures (an independent computation).
    inside = (table["actual"] >= table["q0.05"]) & (table["actual"] <= table["q0.95"])
    assert inside.mean() == pytest.approx(written["test_coverage_90"])
    garch_inside = (table["actual"] >= table["garch_lo90"]) & (table["actual"] <= table["garch_hi90"])
    assert garch_inside.mean() == pytest.approx(written["garch_coverage_90"])
    assert (table["climatology_lo90"] < table["persistence"]).all()
    expected_crps = sr.crps_quantile(table["actual"].to_numpy(), table[quantile_columns].to_numpy(),
                                     np.array(LEVELS), backend="numpy").mean()
    assert written["test_crps"] == pytest.approx(expected_crps, rel=1e-5)


def test_the_checkpoint_keeps_the_shifts_fit_on_every_validation_window(quantile_run):
    """The test days and predict use these; the validation scores use cross-fitted ones."""
    run_dir, _, metrics, objects = quantile_run
    module, datamodule = objects["model"], objects["datamodule"]
    val = objects["evaluation"].val
    outputs = network_outputs(module, datamodule.val_dataloader())
    refit = conformal_offsets(module.quantiles(*outputs).numpy(),
                              datamodule.target_codec.encode(val.actual, val.last_known), LEVELS)
    np.testing.assert_allclose(module.conformal_offsets, refit, atol=1e-5)
    stored = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)["conformal_offsets"]
    np.testing.assert_allclose(stored, module.conformal_offsets)
    for level in (50, 80, 90):  # cross-fitted: near nominal, not nominal by construction
        assert metrics[f"val_coverage_{level}"] == pytest.approx(level / 100, abs=0.12)


def test_cross_fitting_scores_each_block_with_the_other_blocks_shifts():
    """A calm first half and a wild second half: each half's intervals come from the other's."""
    rng = np.random.default_rng(5)
    targets = np.concatenate([rng.normal(0, 0.5, 200), rng.normal(0, 2.0, 200)])[:, None]
    quantiles = np.broadcast_to(np.array([-1.645, -1.2816, -0.6745, 0, 0.6745, 1.2816, 1.645]), (400, 1, 7)).copy()
    calibrated = cross_fitted(quantiles, targets, LEVELS)
    width = calibrated[..., 6] - calibrated[..., 0]
    assert width[:200].mean() > 2 * width[200:].mean()  # the calm half gets the wild half's shifts
    np.testing.assert_allclose(calibrated[:200], calibrate(quantiles[:200], conformal_offsets(
        quantiles[200:], targets[200:], LEVELS), LEVELS))


def test_the_distribution_checkpoint_round_trips_through_eval_and_predict(quantile_run, tmp_path):
    run_dir, csv, metrics, _ = quantile_run
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    cfg = compose_config([f"ckpt_path={ckpt}"], tmp_path / "eval", config_name="eval")
    evaluated = evaluate_checkpoint(cfg)
    for key in ("test_crps", "test_coverage_90", "garch_crps", "val_coverage_90", "objective", "test_rmse"):
        assert evaluated[key] == pytest.approx(metrics[key], rel=1e-6), key
    # predict needs only the last n_steps days: the shifts come with the checkpoint.
    recent = tmp_path / "recent.csv"
    pd.read_csv(csv).tail(10).to_csv(recent, index=False)
    table, _ = forecast(str(ckpt), str(recent))
    quantile_columns = [f"q{level:g}" for level in LEVELS]
    assert list(table.columns) == ["date", "step", "forecast", *quantile_columns]
    assert (np.diff(table[quantile_columns].to_numpy(), axis=1) >= 0).all()
    assert table["forecast"].iloc[0] == pytest.approx(table["q0.5"].iloc[0])


def test_a_normal_run_returns_its_crps_objective_and_selects_by_crps(tmp_path):
    csv = tmp_path / "prices.csv"
    synthetic_prices(periods=700).to_csv(csv, index=False)
    cfg = compose_config([*DISTRIBUTION_RUN, f"data.path={csv}", "model.distribution=normal", "data.horizon=2"],
                         tmp_path / "run")
    assert cfg.callbacks.model_checkpoint.monitor == "val/crps"
    metrics, objects = train(cfg)
    assert metrics["objective"] == pytest.approx(metrics["val_crps"] / metrics["climatology_val_crps"])
    table = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert set(table["horizon"]) == {1, 2} and "q0.95" in table and "garch_hi90" in table
    trainer = objects["trainer"]
    epoch_log = next(c for c in trainer.callbacks if isinstance(c, EpochLog))
    assert "with val_crps" in epoch_log.ending(trainer)


@pytest.mark.parametrize("override, message", [
    ("model.quantiles=[0.05,0.1,0.25,0.5,0.75,0.9,1.2]", "1.2 is not a probability strictly between 0 and 1"),
    ("model.quantiles=[0.05,0.1,0.25,0.5,0.9,0.75,0.95]", "expected increasing levels without duplicates"),
    ("model.quantiles=[0.05,0.1,0.25,0.5,0.5,0.75,0.9,0.95]", "expected increasing levels without duplicates"),
    ("model.quantiles=[0.1,0.5,0.9]", "lacks [0.05, 0.25, 0.75, 0.95]"),
    ("model.distribution=laplace", "model.distribution='laplace': expected one of none, quantile, normal"),
])
def test_bad_distribution_settings_are_one_line_errors_before_any_data_is_read(tmp_path, override, message):
    run_dir = tmp_path / "run"
    distribution = [] if "distribution" in override else ["model.distribution=quantile"]
    result = run_module("stockrnn.train", "data=csv", "data.path=/nonexistent.csv", "data.train_end=2016",
                        "data.test_start=2017", *distribution, override, f"hydra.run.dir={run_dir}")
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (run_dir / "metrics.json").exists() and "nonexistent" not in result.stderr


def test_calibration_without_a_distribution_is_refused(tmp_path):
    result = run_module("stockrnn.train", "model.calibration=conformal", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "a point forecast has none: set model.distribution=quantile or normal" in result.stderr


def garch_random_walk(days: int = 2600, seed: int = 0) -> pd.DataFrame:
    """Log prices whose daily returns follow a known GARCH(1,1) with Gaussian noise: omega 5e-6,
    alpha 0.1, beta 0.85 (unconditional daily volatility 1%)."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 5e-6, 0.1, 0.85
    variance, returns = omega / (1 - alpha - beta), np.empty(days)
    for t in range(days):
        returns[t] = np.sqrt(variance) * rng.standard_normal()
        variance = omega + alpha * returns[t] ** 2 + beta * variance
    dates = pd.bdate_range("2010-01-01", periods=days)
    return pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "High": 100 * np.exp(np.cumsum(returns))})


def test_the_normal_head_covers_its_nominal_levels_on_a_garch_random_walk(tmp_path):
    csv = tmp_path / "garch.csv"
    garch_random_walk().to_csv(csv, index=False)
    cfg = compose_config(["data=csv", f"data.path={csv}", "data.features=[High.log_return]", "data.target=High",
                          "data.transform=log_return", "data.scaler=standard", "data.n_steps=20",
                          "data.train_end=2017", "data.test_start=2018", "model=gru", "model.hidden_size=16",
                          "model.distribution=normal", "model.optimizer.lr=0.003", "trainer=cpu",
                          "trainer.max_epochs=20", "seed=0"], tmp_path / "run")
    metrics, _ = train(cfg)
    assert metrics["n_test"] > 400
    for level, tolerance in ((50, 0.06), (80, 0.05), (90, 0.04)):
        assert metrics[f"test_coverage_{level}"] == pytest.approx(level / 100, abs=tolerance), level


def test_too_few_rows_for_the_baselines_is_an_error_before_the_fit(tmp_path):
    csv = tmp_path / "prices.csv"
    synthetic_prices().to_csv(csv, index=False)  # 2015-01 to mid 2017: one training year is too few
    result = run_module("stockrnn.train", "data=csv", f"data.path={csv}", "data.train_end=2015",
                        "data.test_start=2016", "model.distribution=quantile", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    # From the second day: data=csv's input, the target's log return, has none on the first.
    assert ("the distribution baselines (GARCH, climatology) are fit on the training rows before validation, "
            "2015-01-02..") in result.stderr
    assert "need at least 251: start data.train_start earlier or lower data.val_fraction" in result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "metrics.json").exists()


def test_predict_prints_the_central_intervals_of_a_distribution(tmp_path, capsys):
    table = pd.DataFrame({"date": ["2021-11-26"], "step": [1], "forecast": [100.0],
                          **{f"q{level:g}": [90.0 + 20 * level] for level in LEVELS}})
    print_forecast(table, "High", tmp_path)
    printed = capsys.readouterr().out
    assert "50%" in printed and "95.00 to 105.00" in printed  # q0.25 to q0.75
    assert "90%" in printed and "91.00 to 109.00" in printed  # q0.05 to q0.95


def test_a_distribution_runs_printout_has_the_interval_table_and_its_objective(quantile_run, capsys):
    run_dir, _, metrics, _ = quantile_run
    print_results(metrics, run_dir)
    printed = capsys.readouterr().out
    assert "Test intervals" in printed and "climatology" in printed and "CRPS: " in printed
    assert f"val_crps {metrics['val_crps']:.4f} (objective {metrics['objective']:.4f}); run directory" in printed


def test_a_panels_cross_fitted_shifts_pool_the_other_half_of_every_series():
    """Each half of a series' validation windows is calibrated with shifts fit on the other half of
    every series' windows pooled, as the checkpoint's shifts pool every series."""
    rng = np.random.default_rng(6)
    base = np.array([-1.645, -1.2816, -0.6745, 0, 0.6745, 1.2816, 1.645])
    sizes, scales = (120, 81), (0.5, 2.0)
    quantiles = [np.broadcast_to(base, (n, 1, 7)).copy() for n in sizes]
    targets = [rng.normal(0, scale, (n, 1)) for n, scale in zip(sizes, scales)]
    early, late = cross_fit_offsets(quantiles, targets, LEVELS)
    later_halves = [np.array_split(np.arange(n), 2)[1] for n in sizes]
    np.testing.assert_allclose(early, conformal_offsets(
        np.concatenate([q[h] for q, h in zip(quantiles, later_halves)]),
        np.concatenate([t[h] for t, h in zip(targets, later_halves)]), LEVELS))
    calibrated = apply_cross_fitted(quantiles[1], (early, late), LEVELS)
    np.testing.assert_allclose(calibrated[:41], calibrate(quantiles[1][:41], early, LEVELS))
    np.testing.assert_allclose(calibrated[41:], calibrate(quantiles[1][41:], late, LEVELS))
    # One series is the one-series cross-fitting.
    np.testing.assert_allclose(cross_fitted(quantiles[0], targets[0], LEVELS),
                               apply_cross_fitted(quantiles[0], cross_fit_offsets(quantiles[:1], targets[:1], LEVELS),
                                                  LEVELS))
