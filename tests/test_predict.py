"""predict: the next exchange sessions, values from the stored scalers, clear errors for a wrong CSV."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
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
    assert pd.read_csv(csv)["Date"].iloc[-1] == "2017-04-19"  # a Wednesday; no holiday in the next days
    assert table["date"].tolist() == ["2017-04-20", "2017-04-21", "2017-04-24"]
    assert table["forecast"].between(0, 1000).all()


def with_last_date(csv, last: str, tmp_path) -> str:
    """The checkpoint's CSV with its rows moved to the weekdays ending on `last`."""
    frame = pd.read_csv(csv)
    frame["Date"] = pd.bdate_range(end=last, periods=len(frame)).strftime("%Y-%m-%d")
    path = tmp_path / f"until_{last}.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_predict_writes_the_exchange_sessions_after_the_last_date(checkpoint, tmp_path):
    ckpt, csv = checkpoint
    before_thanksgiving = with_last_date(csv, "2021-11-24", tmp_path)
    result = run_module("stockrnn.predict", f"hydra.run.dir={tmp_path / 'run'}", f"ckpt_path={ckpt}",
                        f"data.path={before_thanksgiving}")
    assert result.returncode == 0, result.stderr[-2000:]
    written = pd.read_csv(tmp_path / "run/forecast.csv")
    assert written["date"].tolist() == ["2021-11-26", "2021-11-29", "2021-11-30"]  # the checkpoint's XNYS
    assert "2021-11-26" in result.stdout and "2021-11-25" not in result.stdout  # the printed table
    weekdays, _ = forecast(str(ckpt), before_thanksgiving, "weekdays")
    assert weekdays["date"].tolist() == ["2021-11-25", "2021-11-26", "2021-11-29"]
    london, _ = forecast(str(ckpt), with_last_date(csv, "2021-12-23", tmp_path), "XLON")
    assert london["date"].tolist() == ["2021-12-24", "2021-12-29", "2021-12-30"]
    pd.testing.assert_series_equal(weekdays["forecast"], written["forecast"], atol=1e-6)  # only dates change


def test_a_last_date_that_is_not_a_session_is_named(checkpoint, tmp_path, caplog):
    ckpt, csv = checkpoint
    frame = pd.read_csv(csv)
    saturday = pd.concat([frame, frame.tail(1).assign(Date="2017-04-22")])  # after Friday 2017-04-21
    path = tmp_path / "saturday.csv"
    saturday.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="stockrnn"):
        table, _ = forecast(str(ckpt), str(path))
    assert table["date"].tolist() == ["2017-04-24", "2017-04-25", "2017-04-26"]
    [warning] = [r.getMessage() for r in caplog.records if "session" in r.getMessage()]
    assert warning.startswith(f"{path}: its last date, 2017-04-22, is not a session of XNYS")


def test_an_unknown_exchange_code_stops_predict_with_one_line(checkpoint, tmp_path):
    ckpt, _ = checkpoint
    result = run_module("stockrnn.predict", f"hydra.run.dir={tmp_path / 'run'}", f"ckpt_path={ckpt}",
                        "data.calendar=NYSX")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    [line] = result.stderr.splitlines()
    assert line.startswith("stockrnn: error: data.calendar='NYSX': not an exchange calendar; expected a code "
                           "such as XNYS (New York)") and "exchange_calendars.get_calendar_names()" in line
    assert not (tmp_path / "run/forecast.csv").exists()


def test_a_checkpoint_from_before_data_calendar_gets_new_york_sessions_and_says_so(checkpoint, tmp_path,
                                                                                    caplog):
    ckpt, csv = checkpoint
    stored = torch.load(ckpt, map_location="cpu", weights_only=True)
    stored["datamodule_hyper_parameters"].pop("calendar")
    old = tmp_path / "old.ckpt"
    torch.save(stored, old)
    with caplog.at_level(logging.WARNING, logger="stockrnn"):
        table, _ = forecast(str(old), with_last_date(csv, "2021-12-23", tmp_path))
    assert table["date"].tolist() == ["2021-12-27", "2021-12-28", "2021-12-29"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning == (f"{old}: written before data.calendar existed; its forecast dates are XNYS sessions: "
                       "set data.calendar to the series' exchange code, or weekdays, if it trades otherwise")


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
    """One epoch on the embedded Microsoft series, 2012-2016 (High about 26 to 64), at level: the
    default inputs are scale-free, so no price level is far from what they saw."""
    run_dir = tmp_path_factory.mktemp("msft")
    train(compose_config(["data.features=[High]", "data.transform=level", "data.train_start=2012",
                          "data.n_steps=5", "model.hidden_size=4", "trainer=cpu", "trainer.max_epochs=1"],
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


@pytest.mark.parametrize("window_norm, transform", [("standard", "log_return"), ("robust", "diff"),
                                                    ("revin", "level"), ("revin", "log_return")])
def test_predict_normalizes_its_window_as_the_run_did(tmp_path, window_norm, transform):
    # Forecast from the days up to the one before the last test day: the run's own forecast of
    # that last day (predictions.csv), from the same window, only if predict normalizes it alike.
    csv = tmp_path / "prices.csv"
    synthetic_prices(periods=400).to_csv(csv, index=False)
    cfg = compose_config(["data=csv", f"data.path={csv}", "data.train_start=2015", "data.train_end=2015",
                          "data.test_start=2016", "data.test_end=2016",
                          "data.features=[High,Close/High]", f"data.window_norm={window_norm}",
                          f"data.transform={transform}",
                          "data.n_steps=5", "model.hidden_size=8", "trainer=cpu", "trainer.max_epochs=1",
                          "torch_threads=1"], tmp_path / "run")
    train(cfg)
    last = pd.read_csv(tmp_path / "run/predictions.csv").iloc[-1]
    frame = pd.read_csv(csv)
    before_last = tmp_path / "before_last.csv"
    frame[frame["Date"] < last["date"]].to_csv(before_last, index=False)
    table, _ = forecast(str(tmp_path / "run/checkpoints/best.ckpt"), str(before_last))
    assert table["date"].iloc[0] == last["date"]
    assert table["forecast"].iloc[0] == pytest.approx(last["predicted"], abs=2e-6)
