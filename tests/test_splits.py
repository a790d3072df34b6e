"""Time order: split by dates, scaler from training dates, validation after training, every test
day forecast once with context from before test_start, and clear errors for impossible splits."""

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler

from stockrnn.data.datamodule import PriceDataModule
from stockrnn.data.splits import date_bound, split_rows
from stockrnn.errors import StockrnnError

from conftest import one_series, synthetic_prices


def datamodule(path, **overrides) -> PriceDataModule:
    settings = dict(path=str(path), features=["High", "Close"], target="High", train_start=2015,
                    train_end=2016, test_start=2017, test_end=2017, n_steps=5, horizon=1,
                    val_fraction=0.2, batch_size=8)
    dm = PriceDataModule(**(settings | overrides))
    dm.setup("fit")
    return dm


def series(path, **overrides):
    return one_series(datamodule(path, **overrides))


def test_year_bounds_are_inclusive():
    assert date_bound(2016, end=False) == pd.Timestamp("2016-01-01")
    assert date_bound("2016", end=True).date() == pd.Timestamp("2016-12-31").date()
    assert date_bound("2016-06-15", end=True).date() == pd.Timestamp("2016-06-15").date()


def test_split_counts_follow_the_tutorial():
    dates = pd.bdate_range("2015-01-01", periods=600)
    splits = split_rows(dates, 2015, 2016, 2017, 2017, n_steps=3, horizon=1, val_fraction=0.2)
    train_rows = splits.train_rows[1] - splits.train_rows[0]
    windows = train_rows - 3
    assert splits.train.count == int(windows * 0.8) and splits.val.count == windows - int(windows * 0.8)
    assert splits.val.first == splits.train.stop  # validation follows training, no gap, no overlap
    assert splits.test.count == (dates.year == 2017).sum()


def test_scaler_comes_from_training_dates_only(prices_csv, tmp_path):
    dm = series(prices_csv)
    prices = pd.read_csv(prices_csv, index_col="Date", parse_dates=True)
    train = prices.loc["2015":"2016"]
    reference = MinMaxScaler().fit(train[["High", "Close"]].to_numpy())
    np.testing.assert_allclose(dm.feature_scaler.offset, reference.data_min_)
    np.testing.assert_allclose(dm.feature_scaler.scale, reference.data_range_)

    # Changing every value outside the training years changes no scaler statistic.
    frame = synthetic_prices()
    outside = ~pd.to_datetime(frame["Date"]).dt.year.isin([2015, 2016])
    frame.loc[outside, ["High", "Close"]] *= 10
    changed = tmp_path / "changed.csv"
    frame.to_csv(changed, index=False)
    other = series(changed)
    assert other.feature_scaler == dm.feature_scaler and other.target_codec == dm.target_codec


def test_windows_respect_the_split_dates(prices_csv):
    dm = series(prices_csv, horizon=2)
    dates = dm.frame.index
    train, val, test = (dm.dataset(r) for r in (dm.splits.train, dm.splits.val, dm.splits.test))
    last_train_day = dates[dates.year <= 2016][-1]
    # Train and validation windows read and forecast training days only, validation after training.
    for ds in (train, val):
        rows = ds.target_rows().numpy()
        assert dates[rows - ds.n_steps].min() >= pd.Timestamp("2015-01-01")
        assert dates[rows + ds.horizon - 1].max() <= last_train_day
    assert val.target_rows().min() > train.target_rows().max()
    # Every test target lies in 2017; the first window takes its context from 2016.
    test_rows = test.target_rows().numpy()
    assert (dates[test_rows].year == 2017).all() and (dates[test_rows + 1].year == 2017).all()
    assert dates[test_rows[0] - 1].year == 2016
    assert len(test) == (dates.year == 2017).sum() - 1  # horizon 2: the last day starts no window


def test_validation_and_test_loaders_keep_time_order(prices_csv):
    dm = datamodule(prices_csv)
    part = one_series(dm)
    for loader, window_range in ((dm.val_dataloader(), part.splits.val), (dm.test_dataloader(), part.splits.test)):
        anchors = np.concatenate([anchor.numpy() for _, _, anchor, _ in loader])
        expected = part.target_prices[window_range.first - 1:window_range.stop - 1].numpy()
        np.testing.assert_array_equal(anchors, expected)


def test_every_test_day_is_forecast_once(prices_csv):
    dm = series(prices_csv, n_steps=30)
    targets = dm.split_targets(dm.splits.test)
    test_days = dm.frame.index[dm.frame.index.year == 2017]
    assert list(pd.DatetimeIndex(targets.dates[:, 0])) == list(test_days)
    np.testing.assert_array_equal(targets.last_known[1:], targets.actual[:-1, 0])


@pytest.mark.parametrize("overrides, message", [
    (dict(train_start=2020, train_end=2021), "the train range 2020..2021 holds no rows; the data covers 2015-01-01"),
    (dict(n_steps=600), "the train range 2015..2016 has 522 rows; n_steps=600"),
    (dict(test_start=2019, test_end=2020), "the test range 2019..2020 holds no rows; the data covers 2015-01-01..2017-04-19"),
    (dict(test_start="2017-03-01", test_end="2017-03-02", horizon=3),
     "the test range 2017-03-01..2017-03-02 has 2 rows; horizon=3 needs at least 3"),
    (dict(val_fraction=0.999), "n_steps=5 and horizon=1 with val_fraction=0.999 need at least 1005"),
    (dict(features=["High", "Adj Close"]), "['Adj Close'] not found; available: Open, High, Low, Close, Volume"),
])
def test_impossible_splits_and_columns_are_named(prices_csv, overrides, message):
    with pytest.raises(StockrnnError) as err:
        datamodule(prices_csv, **overrides)
    assert message in str(err.value)


def test_open_bounds_mean_the_first_and_the_last_row():
    dates = pd.bdate_range("2015-01-01", periods=600)
    open_ = split_rows(dates, None, 2016, 2017, None, n_steps=5, horizon=1, val_fraction=0.2)
    closed = split_rows(dates, 2015, 2016, 2017, 2017, n_steps=5, horizon=1, val_fraction=0.2)
    assert open_ == closed  # the data starts in 2015 and ends in 2017
    assert open_.train_rows[0] == 0 and open_.test_rows[1] == len(dates)
    with pytest.raises(StockrnnError, match=r"the test range 2018..last row holds no rows"):
        split_rows(dates, None, 2016, 2018, None, n_steps=5, horizon=1, val_fraction=0.2)
