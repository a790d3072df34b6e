"""Target transforms: each inverts exactly, is measured from the last known price, and is fit on
training rows only."""

import numpy as np
import pytest
import torch

from stockrnn.data.datamodule import PriceDataModule
from stockrnn.data.targets import TRANSFORMS, TargetCodec

from conftest import one_series


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("scaler", ["minmax", "standard", "none"])
def test_every_transform_inverts_exactly(transform, scaler):
    rng = np.random.default_rng(0)
    prices = 100 + np.cumsum(rng.normal(0, 1, 300))
    codec = TargetCodec.fit(transform, scaler, prices[:200])
    windows = np.stack([prices[i:i + 3] for i in range(1, 250)])
    anchors = prices[:249]
    encoded = codec.encode(windows, anchors)
    np.testing.assert_allclose(codec.decode(encoded, anchors), windows, rtol=1e-12)
    # torch tensors take the same path
    decoded = codec.decode(torch.as_tensor(encoded), torch.as_tensor(anchors))
    np.testing.assert_allclose(decoded.numpy(), windows, rtol=1e-12)


def test_change_transforms_measure_from_the_last_known_price():
    codec = TargetCodec("diff", offset=0.0, scale=2.0)
    np.testing.assert_allclose(codec.encode(np.array([[11.0, 14.0]]), np.array([10.0])), [[0.5, 2.0]])
    codec = TargetCodec("log_return", offset=0.0, scale=1.0)
    np.testing.assert_allclose(codec.encode(np.array([[20.0]]), np.array([10.0])), [[np.log(2)]])


@pytest.mark.parametrize("transform", ["diff", "log_return"])
def test_datamodule_targets_are_encoded_changes_fit_on_training_rows(prices_csv, transform):
    dm = one_series(PriceDataModule(path=str(prices_csv), features=["High"], target="High", train_start=2015,
                                    train_end=2016, test_start=2017, test_end=2017, n_steps=5, horizon=2,
                                    transform=transform, scaler="standard"))
    high = dm.frame["High"].to_numpy()
    first, stop = dm.splits.train_rows
    changes = np.diff(high[first:stop]) if transform == "diff" else np.diff(np.log(high[first:stop]))
    assert dm.target_codec.offset == pytest.approx(changes.mean())
    assert dm.target_codec.scale == pytest.approx(changes.std())
    x, y, anchor = dm.dataset(dm.splits.test)[0]
    r = dm.splits.test.first
    expected = high[r:r + 2] - high[r - 1] if transform == "diff" else np.log(high[r:r + 2] / high[r - 1])
    np.testing.assert_allclose(y.numpy(), (expected - changes.mean()) / changes.std(), rtol=1e-4, atol=1e-4)
    assert anchor.item() == pytest.approx(high[r - 1], rel=1e-6)


def test_a_short_diff_training_on_mastercard_sits_near_persistence_and_beats_a_wrong_model(
        tmp_path, mastercard_csv):
    from stockrnn.training.forecast_tables import evaluate
    from stockrnn.train import train

    from conftest import compose_config

    cfg = compose_config(["experiment=seed_mastercard", f"data.path={mastercard_csv}", "data.transform=diff",
                          "data.scaler=standard",
                          "model=gru", "trainer=cpu", "trainer.max_epochs=3", "model.hidden_size=16"], tmp_path)
    metrics, objects = train(cfg)
    assert abs(metrics["skill"]) < 0.05  # High alone: about as good as tomorrow = today (5.28)
    # A deliberately wrong model: the same network forecasting a rise of two training-sized
    # daily changes every day.
    module, datamodule = objects["model"], objects["datamodule"]
    with torch.no_grad():
        module.network.head.weight.zero_()
        module.network.head.bias.fill_(2.0)
    wrong = evaluate(module, datamodule).metrics
    assert metrics["test_rmse"] < 0.8 * wrong["test_rmse"]
    assert wrong["persistence_rmse"] == metrics["persistence_rmse"]  # the same targets
