"""predict: the next trading days, values from the stored scalers, clear errors for a wrong CSV."""

import numpy as np
import pandas as pd
import pytest
from arch.data import sp500 as arch_sp500

from stockrnn.data.scaling import Scaler
from stockrnn.errors import StockrnnError
from stockrnn.predict import forecast, next_trading_days
from stockrnn.train import train

from conftest import compose_config, run_module, synthetic_prices


def test_next_trading_days_skip_the_weekend():
    days = next_trading_days(pd.Timestamp("2021-10-08"), 3)  # a Friday
    assert [d.strftime("%Y-%m-%d") for d in days] == ["2021-10-11", "2021-10-12", "2021-10-13"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    csv = run_dir / "prices.csv"
    synthetic_prices().to_csv(csv, index=False)
    cfg = compose_config(["data=csv", f"data.path={csv}", "data.train_start=2015", "data.train_end=2016",
                          "data.test_start=2017", "data.test_end=2017", "data.horizon=3",
                          "data.features=[High,Close/High,High.log_return]", "data.transform=diff",
                          "data.n_steps=5", "model.hidden_size=8", "trainer=cpu", "trainer.max_epochs=1"],
                         run_dir)
    train(cfg)
    return run_dir / "checkpoints" / "best.ckpt", csv


def test_forecast_covers_the_horizon_after_the_last_date(checkpoint):
    ckpt, csv = checkpoint
    table, target = forecast(str(ckpt), str(csv))
    assert target == "High" and list(table.columns) == ["date", "step", "forecast"]
    assert table["step"].tolist() == [1, 2, 3]
    last = pd.read_csv(csv)["Date"].iloc[-1]
    assert table["date"].tolist() == [d.strftime("%Y-%m-%d") for d in next_trading_days(pd.Timestamp(last), 3)]
    assert table["forecast"].between(0, 1000).all()


def test_forecast_uses_the_stored_scalers_not_the_new_files_history(checkpoint, tmp_path):
    ckpt, csv = checkpoint
    frame = pd.read_csv(csv)
    frame.loc[: len(frame) - 10, ["Open", "High", "Low", "Close"]] *= 5  # all but the last days
    changed = tmp_path / "changed.csv"
    frame.to_csv(changed, index=False)
    original, _ = forecast(str(ckpt), str(csv))
    other, _ = forecast(str(ckpt), str(changed))
    pd.testing.assert_frame_equal(original, other)


def test_a_zero_in_the_last_days_is_named_not_forecast_as_nan(checkpoint, tmp_path):
    ckpt, csv = checkpoint
    frame = pd.read_csv(csv)
    frame.loc[len(frame) - 2, "High"] = 0  # inside the last n_steps=5 days: Close/High divides by it
    bad = tmp_path / "zero_high.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(StockrnnError, match=rf"zero_high.csv: feature 'Close/High' is not a finite number on "
                                            rf"{frame['Date'].iloc[-2]} .*'High' to be non-zero"):
        forecast(str(ckpt), str(bad))


def test_a_csv_without_the_checkpoints_columns_is_named(checkpoint, tmp_path):
    ckpt, csv = checkpoint
    bad = tmp_path / "no_close.csv"
    pd.read_csv(csv).drop(columns=["Close"]).to_csv(bad, index=False)
    with pytest.raises(StockrnnError, match=r"no_close.csv: column\(s\) \['Close'\] not found; available"):
        forecast(str(ckpt), str(bad))


@pytest.mark.parametrize("kind, inside, outside", [("minmax", [-9.5, 19.5], [-10.5, 20.5]),
                                                   ("standard", [-10.5, 20.5], [-11.5, 21.5])])
def test_inputs_far_outside_the_training_rows_are_told_by_column(kind, inside, outside):
    # Training rows 0..10: minmax keeps [-10, 20] (range 10); standard [-10.8, 20.8] (5 std of 3.16).
    scaler = Scaler.fit(kind, np.arange(11.0)[:, None].repeat(2, axis=1))
    columns = np.array([inside, outside]).T  # column 0 stays inside the bounds, column 1 leaves them
    scaled = scaler.transform_columns([columns[:, 0], columns[:, 1]]).numpy()
    assert scaler.far_outside_training(scaled) == [1]
    assert Scaler.fit("none", columns).far_outside_training(columns) == []


@pytest.fixture(scope="module")
def msft_checkpoint(tmp_path_factory):
    """One epoch on the embedded Microsoft series (data=default, 2012-2016: High about 26 to 64)."""
    run_dir = tmp_path_factory.mktemp("msft")
    train(compose_config(["data.n_steps=5", "model.hidden_size=4", "trainer=cpu", "trainer.max_epochs=1"],
                         run_dir))
    return run_dir / "checkpoints" / "best.ckpt"


def test_predict_warns_when_the_series_is_far_from_what_the_checkpoint_saw(msft_checkpoint, tmp_path):
    sp500 = tmp_path / "sp500.csv"
    arch_sp500.load().to_csv(sp500, index_label="Date")  # the index near 2,500
    other = run_module("stockrnn.predict", f"hydra.run.dir={tmp_path / 'other'}", f"ckpt_path={msft_checkpoint}",
                       f"data.path={sp500}")
    assert other.returncode == 0 and (tmp_path / "other/forecast.csv").is_file(), other.stderr[-2000:]
    [warning] = [line for line in (other.stdout + other.stderr).splitlines() if "[WARNING]" in line]
    assert (f"{sp500}: the last 5 days lie far outside the checkpoint's training data in High (scaled "
            in warning and "values beyond [-1, 2] are far outside" in warning)

    own = run_module("stockrnn.predict", f"hydra.run.dir={tmp_path / 'own'}", f"ckpt_path={msft_checkpoint}")
    assert own.returncode == 0 and (tmp_path / "own/forecast.csv").is_file(), own.stderr[-2000:]
    assert "WARNING" not in own.stdout + own.stderr
