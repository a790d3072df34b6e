"""Derived inputs: computed from same-day and earlier values only, aligned with their targets."""

import numpy as np
import torch
import pytest

from stockrnn.data.datamodule import PriceDataModule
from stockrnn.data.features import add_derived, base_columns
from stockrnn.errors import StockrnnError

from conftest import one_series, synthetic_prices

FEATURES = ["High.log_return", "Close/High", "Low/High", "Open/High", "Volume.diff", "High"]


def test_base_columns():
    assert base_columns("Close/High") == ["Close", "High"]
    assert base_columns("High.log_return") == ["High"]
    assert base_columns("Volume.diff") == ["Volume"]
    assert base_columns("Open") == ["Open"]


def test_derived_values_by_hand():
    frame = synthetic_prices(periods=5).set_index("Date").astype(float)
    out = add_derived(frame, FEATURES)
    assert len(out) == 4  # a lagged feature has no value on the first day
    day, before = frame.iloc[2], frame.iloc[1]
    row = out.loc[frame.index[2]]
    assert row["High.log_return"] == pytest.approx(np.log(day["High"] / before["High"]))
    assert row["Close/High"] == pytest.approx(day["Close"] / day["High"] - 1)
    assert row["Volume.diff"] == pytest.approx(day["Volume"] - before["Volume"])


def test_no_input_window_holds_a_value_from_its_target_day(prices_csv):
    """Multivariate windows end the day before the first target: changing everything from the
    target day on changes no input of that window."""
    kwargs = dict(features=FEATURES, target="High", train_start=2015, train_end=2016, test_start=2017,
                  test_end=2017, n_steps=4, horizon=2)
    dm = one_series(PriceDataModule(path=str(prices_csv), **kwargs))
    test = dm.dataset(dm.splits.test)
    i = 10
    x, _, anchor = test[i]
    target_day = dm.frame.index[test.first_target_row + i]

    frame = synthetic_prices()
    frame.loc[frame["Date"] >= target_day.strftime("%Y-%m-%d"), ["Open", "High", "Low", "Close", "Volume"]] *= 3
    changed_csv = prices_csv.parent / "changed.csv"
    frame.to_csv(changed_csv, index=False)
    changed = one_series(PriceDataModule(path=str(changed_csv), **kwargs))
    x2, y2, anchor2 = changed.dataset(changed.splits.test)[i]
    torch_equal = (x == x2).all().item()
    assert torch_equal and anchor == anchor2
    assert not (y2 == test[i][1]).all()


def test_a_derived_feature_of_a_missing_column_lists_the_columns(prices_csv):
    dm = PriceDataModule(path=str(prices_csv), features=["Adj Close/High"], target="High", train_start=2015,
                         train_end=2016, test_start=2017, test_end=2017, n_steps=4)
    with pytest.raises(StockrnnError, match=r"\['Adj Close'\] not found; available: Open, High"):
        dm.setup("fit")


def test_a_zero_volume_under_a_log_return_is_named_and_one_outside_the_dates_is_harmless(tmp_path):
    frame = synthetic_prices()  # 2015-01-01 .. mid 2017
    frame.loc[frame["Date"] == "2016-03-01", "Volume"] = 0
    frame.loc[frame["Date"] == "2015-01-06", "Volume"] = 0  # before the 2016 training year below
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)

    def datamodule(train_start):
        return PriceDataModule(path=str(path), features=["High.log_return", "Volume.log_return"], target="High",
                               train_start=train_start, train_end=2016, test_start=2017, test_end=2017, n_steps=4)

    with pytest.raises(StockrnnError, match=r"feature 'Volume.log_return' is not a finite number on 2016-03-01 "
                                            r"\(2 days of the run's dates\); it needs 'Volume' to be above 0"):
        datamodule(2016).setup("fit")
    frame.loc[frame["Date"] == "2016-03-01", "Volume"] = 5_000
    frame.to_csv(path, index=False)
    dm = one_series(datamodule(2016))  # the zero of 2015 lies outside every window of this run
    assert torch.isfinite(dm.inputs[dm.splits.train.first - dm.n_steps:]).all()
    with pytest.raises(StockrnnError, match=r"on 2015-01-06"):
        datamodule(2015).setup("fit")


def test_a_ratio_over_a_zero_names_the_denominator(tmp_path):
    frame = synthetic_prices()
    frame.loc[frame["Date"] == "2016-06-01", "Low"] = 0
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    dm = PriceDataModule(path=str(path), features=["High/Low"], target="High", train_start=2015,
                         train_end=2016, test_start=2017, test_end=2017, n_steps=4)
    with pytest.raises(StockrnnError, match=r"feature 'High/Low' is not a finite number on 2016-06-01 .*"
                                            r"it needs 'Low' to be non-zero"):
        dm.setup("fit")
