"""data.window_norm=revin: the target normalized by its window's own history and mapped back exactly,
from past days only, per series in a panel, the same in a run, its eval and predict; and the guard
against an input-only normalization with a level target."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from stockrnn.data.datamodule import PriceDataModule
from stockrnn.data.targets import TRANSFORMS, TargetCodec
from stockrnn.data.window_norm import EPSILON, denormalize, mapped_back, normalize_by
from stockrnn.data.windows import PooledWindows, WindowDataset, as_stored, batch_parts, revin_statistics
from stockrnn.errors import StockrnnError
from stockrnn.eval import evaluate_checkpoint
from stockrnn.models.forecaster import Forecaster
from stockrnn.train import train
from stockrnn.utils.config import check_config

from conftest import compose_config, synthetic_prices

N_STEPS = 6


def walk(rows: int = 80, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(100 + rng.normal(0, 1, rows).cumsum()).to(dtype)


def revin_windows(prices: torch.Tensor, transform: str, horizon: int) -> WindowDataset:
    """Every window of a one-series walk, its target encoded as `transform` with a codec fit on it."""
    codec = TargetCodec.fit(transform, "standard", prices[:50].double().numpy())
    return WindowDataset(prices[:, None], prices, N_STEPS, horizon, N_STEPS, len(prices) - N_STEPS - horizon + 1,
                         codec, "revin")


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("horizon", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_normalized_targets_map_back_to_the_encoded_targets_and_the_true_prices(transform, horizon, dtype):
    prices = walk(dtype=dtype)
    dataset = revin_windows(prices, transform, horizon)
    x, y, anchor, series, norm = batch_parts(dataset.all_windows())
    assert series is None and all(t.shape == y.shape and t.dtype == dtype for t in norm)
    assert (norm[1] >= EPSILON).all() and torch.isfinite(norm[0]).all()
    normalized = normalize_by(y, *norm)
    assert normalized.dtype == dtype and normalized.abs().max() > 0.1  # not the identity: the target moved
    eps = torch.finfo(dtype).eps
    tolerance = 16 * eps * (y.abs() + norm[0].abs() + 1)
    assert ((denormalize(normalized, *norm) - y).abs() <= tolerance).all()
    # A network that outputs exactly the normalized targets forecasts the true prices, as a point and
    # as the median of a normal head (mapped back by Forecaster, decoded by the codec).
    truth = prices.unfold(0, horizon, 1)[N_STEPS:N_STEPS + len(dataset)].double()
    for distribution, outputs in (("none", normalized),
                                  ("normal", torch.stack([normalized, torch.zeros_like(normalized)], dim=-1))):
        module = Forecaster(n_features=1, horizon=horizon, distribution=distribution, quantiles=[0.05, 0.5, 0.95])
        point = module.point(outputs.double(), norm)
        prices_back = dataset.codec.decode(point, anchor.double())
        torch.testing.assert_close(prices_back, truth, rtol=100 * eps, atol=0)
        if distribution == "normal":
            quantiles = module.quantiles(outputs.double(), norm)
            torch.testing.assert_close(quantiles[..., 1], point)
            assert (quantiles.diff(dim=-1) > 0).all()  # a positive spread keeps the order


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_the_statistics_are_the_encoded_history_of_the_windows_own_days(transform):
    # Step j: the codec's encoding of each input day's price measured j + 1 days back (level: the
    # encoded prices); the days before the series are left out, not read as some other value.
    horizon, prices = 2, walk()
    dataset = revin_windows(prices, transform, horizon)
    _, y, _, _, (centre, spread) = batch_parts(dataset.all_windows())
    p, codec = prices.double().numpy(), dataset.codec
    for w in (0, 1, 2, 30, len(dataset) - 1):
        first = w  # the window's first input day (its first target is N_STEPS days later)
        for j in range(horizon):
            days = [t for t in range(first, first + N_STEPS) if transform == "level" or t - j - 1 >= 0]
            values = codec.encode(p[days][:, None], p[[t - j - 1 for t in days]])[:, 0]
            assert centre[w, j].item() == pytest.approx(values.mean(), rel=1e-5, abs=1e-5)
            assert spread[w, j].item() == pytest.approx(values.std(), rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_changing_any_later_price_leaves_a_windows_statistics_alone(transform):
    horizon, prices = 3, walk()
    before = batch_parts(revin_windows(prices, transform, horizon).all_windows())[4]
    for w in (0, 7, 40):
        first_target = N_STEPS + w
        changed = prices.clone()
        changed[first_target:] *= torch.linspace(0.5, 2.0, len(prices) - first_target)  # every later day
        codec = revin_windows(prices, transform, horizon).codec  # the same codec: only the prices change
        after = revin_statistics(changed, torch.tensor([first_target]), 0, codec, N_STEPS, horizon)
        for old, new in zip(before, after):
            assert torch.equal(old[w], new[0])
        # ...while a change to one of its own days moves them.
        changed[first_target - 1] += 5
        moved = revin_statistics(changed, torch.tensor([first_target]), 0, codec, N_STEPS, horizon)
        assert not torch.equal(before[0][w], moved[0][0])


def test_the_ridges_read_revin_windows_as_stored():
    dataset = revin_windows(walk(), "level", 1)
    x, y, anchor = as_stored(dataset).all_windows()  # no statistics, plain inputs, encoded targets
    plain = WindowDataset(dataset.inputs, dataset.target_prices, N_STEPS, 1, N_STEPS, len(dataset), dataset.codec)
    for ours, theirs in zip((x, y, anchor), plain.all_windows()):
        assert torch.equal(ours, theirs)


def test_a_panels_windows_have_their_own_series_statistics(tmp_path):
    # Two series end to end: the pooled statistics are each series' own, and the first windows of the
    # second series do not read the first series' last prices as their past.
    rng = np.random.default_rng(3)
    rows = []
    for name, level in (("AAA", 20.0), ("BBB", 400.0)):
        dates = pd.bdate_range("2015-01-01", periods=500)
        high = level + rng.normal(0, 1, len(dates)).cumsum()
        rows.append(pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "High": high, "Name": name}))
    csv = tmp_path / "panel.csv"
    pd.concat(rows).to_csv(csv, index=False)
    datamodule = PriceDataModule(path=str(csv), series_column="Name", features=["High"], target="High",
                                 train_start=None, train_end="2015", test_start="2016", test_end=None,
                                 n_steps=N_STEPS, horizon=2, transform="log_return", window_norm="revin")
    datamodule.setup("fit")
    for split in ("train", "val", "test"):
        pooled = datamodule.pooled(split)
        _, _, _, series, norm = batch_parts(pooled.all_windows())
        own = [batch_parts(part.dataset(getattr(part.splits, split)).all_windows())[4]
               for part in datamodule.parts.values()]
        for pooled_stat, *series_stats in zip(norm, *own):
            assert torch.equal(pooled_stat, torch.cat(series_stats))
    first = datamodule.parts["BBB"].splits.train.first
    assert first == N_STEPS  # BBB's first window starts on its first day: its first changes are unknown
    pooled = PooledWindows([part.dataset(part.splits.train) for part in datamodule.parts.values()], [0, 1],
                           (datamodule.inputs, datamodule.target_prices))
    first_of_bbb = pooled.first_window[1]
    _, _, _, series, (centre, spread) = batch_parts(pooled.__getitems__(torch.tensor([int(first_of_bbb)])))
    assert series.item() == 1
    bbb = datamodule.parts["BBB"].target_prices.double().numpy()
    codec = datamodule.parts["BBB"].target_codec
    changes = codec.encode(bbb[1:N_STEPS, None], bbb[:N_STEPS - 1])[:, 0]  # the changes within its days
    assert centre[0, 0].item() == pytest.approx(changes.mean(), rel=1e-5)


@pytest.mark.parametrize("window_norm", ["standard", "robust"])
def test_an_input_only_window_norm_with_a_level_target_is_a_config_error(tmp_path, window_norm):
    # data.transform=level named: the default is now log_return.
    cfg = compose_config([f"data.window_norm={window_norm}", "data.transform=level"], tmp_path)
    with pytest.raises(StockrnnError) as err:
        check_config(cfg)
    message = str(err.value)
    assert f"data.window_norm={window_norm} with data.transform=level" in message
    assert "data.window_norm=revin" in message and "data.transform=log_return" in message
    # What it suggests passes, and revin is what a level target is allowed.
    for allowed in ([f"data.window_norm={window_norm}", "data.transform=log_return"],
                    ["data.window_norm=revin", "data.transform=level"]):
        check_config(compose_config(allowed, tmp_path))


RUN = ["data=csv", "data.train_start=2015", "data.train_end=2016", "data.test_start=2017", "data.n_steps=5",
       "data.features=[High,Close/High]", "data.window_norm=revin", "model.hidden_size=8", "trainer=cpu",
       "trainer.max_epochs=2", "torch_threads=1", "seed=0"]


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("revin") / "prices.csv"
    synthetic_prices(periods=700).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("transform", ["level", "log_return"])
def test_a_revin_run_trains_and_its_eval_gives_the_same_forecasts(tmp_path, csv, transform):
    metrics, objects = train(compose_config([*RUN, f"data.path={csv}", f"data.transform={transform}",
                                             "data.horizon=2"], tmp_path / "run"))
    assert all(math.isfinite(metrics[key]) for key in ("val_rmse", "test_rmse", "linear_rmse"))
    # Mapped back to prices: the error is of the size of a day's move, not of the normalized units'.
    assert metrics["val_rmse"] < 3 * metrics["persistence_val_rmse"]
    evaluated = evaluate_checkpoint(compose_config([f"ckpt_path={tmp_path / 'run/checkpoints/best.ckpt'}"],
                                                   tmp_path / "eval", config_name="eval"))
    for key in ("val_rmse", "test_rmse", "linear_rmse", "persistence_rmse"):
        assert evaluated[key] == pytest.approx(metrics[key], rel=1e-6), key
    run, again = (pd.read_csv(tmp_path / name / "predictions.csv") for name in ("run", "eval"))
    np.testing.assert_allclose(again["predicted"], run["predicted"], atol=2e-6)


def test_a_conformal_quantile_revin_run_scores_and_reloads_alike(tmp_path, csv):
    # Quantiles mapped back before the shifts are fit and applied: all in the codec's units.
    metrics, _ = train(compose_config([*RUN, f"data.path={csv}", "data.transform=level",
                                       "model.distribution=quantile", "model.calibration=conformal"],
                                      tmp_path / "run"))
    table = pd.read_csv(tmp_path / "run/predictions.csv")
    quantiles = table[[c for c in table.columns if c.startswith("q")]].to_numpy()
    assert (np.diff(quantiles, axis=1) >= 0).all()
    assert 0.5 < metrics["test_coverage_90"] <= 1.0
    evaluated = evaluate_checkpoint(compose_config([f"ckpt_path={tmp_path / 'run/checkpoints/best.ckpt'}"],
                                                   tmp_path / "eval", config_name="eval"))
    for key in ("test_crps", "test_coverage_90", "val_coverage_90", "val_rmse"):
        assert evaluated[key] == pytest.approx(metrics[key], rel=1e-6), key
    assert json.loads((tmp_path / "run/metrics.json").read_text())["test_crps"] == pytest.approx(metrics["test_crps"])


def test_a_panel_revin_run_trains_with_a_series_embedding(tmp_path):
    rng = np.random.default_rng(1)
    dates = pd.bdate_range("2015-01-01", periods=700).strftime("%Y-%m-%d")
    frame = pd.concat([pd.DataFrame({"Date": dates, "High": level + rng.normal(0, 1, len(dates)).cumsum(),
                                     "Name": name}) for name, level in (("AAA", 30), ("BBB", 300))])
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    metrics, _ = train(compose_config([*RUN, f"data.path={path}", "data.series_column=Name", "data.features=[High]",
                                       "data.transform=level", "model.series_embedding=2"], tmp_path / "run"))
    table = pd.read_csv(tmp_path / "run/predictions.csv")
    assert set(table["series"]) == {"AAA", "BBB"}
    # Each series forecast at its own level: mapped back with its own windows' statistics.
    for name, level in (("AAA", 30), ("BBB", 300)):
        rows = table[table["series"] == name]
        assert ((rows["predicted"] - rows["actual"]).abs() < 0.2 * level).mean() > 0.9
    assert metrics["n_series"] == 2 and math.isfinite(metrics["skill_mean"])


def test_mapped_back_without_revin_is_the_values_themselves():
    values = torch.randn(4, 2, 3)
    assert mapped_back(values, None) is values
