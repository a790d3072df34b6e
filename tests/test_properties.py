"""Property tests: for generated series (lengths, gaps, duplicate dates) and settings (n_steps,
horizon, val_fraction, split dates), window counts are exact, no window crosses a split the wrong
way, every test day is forecast once, and the scaler sees training rows only."""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from stockrnn.data.datamodule import PriceDataModule
from stockrnn.data.series import PriceSeries
from stockrnn.data.scaling import Scaler
from stockrnn.data.window_norm import denormalize, normalize, window_statistics
from stockrnn.errors import StockrnnError

from conftest import one_series

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def dated_series(draw):
    """Calendar dates with gaps (steps > 1) and repeats (step 0), and four ordered split bounds."""
    steps = draw(st.lists(st.sampled_from([0, 1, 1, 1, 1, 2, 3, 5]), min_size=30, max_size=200))
    start = pd.Timestamp("2015-01-01") + pd.Timedelta(days=draw(st.integers(0, 40)))
    dates = start + pd.to_timedelta(np.concatenate([[0], np.cumsum(steps)]), unit="D")
    span = (dates[-1] - dates[0]).days
    # Bounds may fall on days without rows and a few days outside the data; most leave room for
    # windows, some (any four ordered days) do not and must fail with the right message.
    if draw(st.integers(0, 4)) == 0 or span < 20:
        cuts = sorted(draw(st.lists(st.integers(-3, span + 3), min_size=4, max_size=4)))
    else:
        train_end = draw(st.integers(span * 2 // 5, span * 3 // 4))
        test_start = train_end + draw(st.integers(1, 10))
        cuts = [draw(st.integers(-3, span // 5)), train_end, test_start, draw(st.integers(test_start, span + 3))]
    if cuts[1] == cuts[2]:
        cuts[2] += 1  # test_start strictly after train_end, as the config check demands
    bounds = [(dates[0] + pd.Timedelta(days=c)).strftime("%Y-%m-%d") for c in cuts]
    return dates, bounds


def write_csv(directory: Path, dates: pd.DatetimeIndex, values: np.ndarray) -> Path:
    """Rows in date order; a repeated date gets -1 (it must be dropped, the first row kept)."""
    repeated = dates.duplicated()
    frame = pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "High": np.where(repeated, -1.0, values)})
    path = directory / "prices.csv"
    frame.to_csv(path, index=False)
    return path


def build(path, bounds, **kwargs) -> PriceSeries:
    return one_series(PriceDataModule(path=str(path), features=["High"], target="High", train_start=bounds[0],
                                      train_end=bounds[1], test_start=bounds[2], test_end=bounds[3], batch_size=16,
                                      **kwargs))


def rows_within(unique: pd.DatetimeIndex, start: str, end: str) -> np.ndarray:
    return np.flatnonzero((unique >= pd.Timestamp(start)) & (unique <= pd.Timestamp(end)))


@SETTINGS
@given(series=dated_series(), n_steps=st.integers(1, 10), horizon=st.integers(1, 4),
       val_fraction=st.sampled_from([0.1, 0.2, 0.35, 0.5]))
def test_windows_are_exact_and_never_cross_a_split(series, n_steps, horizon, val_fraction):
    dates, bounds = series
    unique = dates.unique()
    # The value of each kept row is its row number, so a window's values are the rows it read.
    values = np.cumsum(~dates.duplicated()) - 1.0
    train_rows, test_rows = rows_within(unique, *bounds[:2]), rows_within(unique, *bounds[2:])
    n_windows = len(train_rows) - n_steps - horizon + 1
    n_train = int(n_windows * (1 - val_fraction))
    n_test = len(test_rows) - horizon + 1

    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp), dates, values)
        expected_error = ("the train range" if not len(train_rows) else "the test range" if not len(test_rows)
                          else "the train range" if n_train < 1 or n_windows - n_train < 1
                          else "the test range" if n_test < 1 else None)
        event(f"error: {expected_error}" if expected_error else "windows built")
        if expected_error:
            with pytest.raises(StockrnnError, match=expected_error):
                build(path, bounds, n_steps=n_steps, horizon=horizon, val_fraction=val_fraction, scaler="none")
            return
        dm = build(path, bounds, n_steps=n_steps, horizon=horizon, val_fraction=val_fraction, scaler="none")

    assert list(dm.frame.index) == list(unique)  # sorted, one row per date
    assert (dm.splits.train.count, dm.splits.val.count, dm.splits.test.count) == (n_train, n_windows - n_train, n_test)
    windows = {}
    for name in ("train", "val", "test"):
        dataset = dm.dataset(getattr(dm.splits, name))
        x, y, _ = dataset.all_windows()
        x, y = x[..., 0].numpy(), y.numpy()
        assert (x >= 0).all() and (y >= 0).all()  # no dropped duplicate is ever read
        # Each window reads the n_steps rows right before its first target, and nothing later.
        np.testing.assert_array_equal(x[:, 1:] - x[:, :-1], 1)
        np.testing.assert_array_equal(y[:, 0] - x[:, -1], 1)
        np.testing.assert_array_equal(y[:, 1:] - y[:, :-1], 1)
        windows[name] = (x, y)
    first_train, last_train = train_rows[0], train_rows[-1]
    for name in ("train", "val"):  # read and forecast training days only
        x, y = windows[name]
        assert x.min() >= first_train and y.max() <= last_train
    assert windows["val"][1][:, 0].min() > windows["train"][1][:, 0].max()  # validation after training
    x, y = windows["test"]
    assert y.min() >= test_rows[0] and y.max() <= test_rows[-1]  # forecasts test days only
    # Every test day is forecast once as a first step; the last horizon - 1 days as later steps.
    np.testing.assert_array_equal(np.sort(y[:, 0]), test_rows[:n_test])
    assert set(y.ravel()) == set(test_rows)


@SETTINGS
@given(series=dated_series(), scaler=st.sampled_from(["minmax", "standard"]), seed=st.integers(0, 2**16),
       factor=st.floats(0.1, 10))
def test_scaler_statistics_come_from_training_rows_only(series, scaler, seed, factor):
    dates, bounds = series
    unique = dates.unique()
    train_rows = rows_within(unique, *bounds[:2])
    values = 100 + np.random.default_rng(seed).normal(0, 5, len(dates)).cumsum()
    kept = ~dates.duplicated()
    in_train = np.zeros(len(dates), dtype=bool)
    in_train[np.flatnonzero(kept)[train_rows]] = True
    changed = np.where(in_train, values, values * factor + 7)  # every row outside the training dates

    with tempfile.TemporaryDirectory() as tmp:
        settings_ = dict(n_steps=1, horizon=1, val_fraction=0.5, scaler=scaler)
        try:
            dm = build(write_csv(Path(tmp), dates, values), bounds, **settings_)
        except StockrnnError:
            event("too few rows")
            return  # too few rows for this split: the window property test covers when that happens
        other = build(write_csv(Path(tmp), dates, changed), bounds, **settings_)
    assert other.target_codec == dm.target_codec
    reference = Scaler.fit(scaler, values[kept][train_rows][:, None])
    assert (dm.target_codec.offset, dm.target_codec.scale) == (reference.offset[0], reference.scale[0])


@st.composite
def input_windows(draw):
    """A batch of windows (windows x n_steps x features) of scaled-input-like values: wide and
    narrow spreads, repeated values (a flat stretch), and an odd or even number of steps."""
    n_windows, n_steps, features = draw(st.integers(1, 4)), draw(st.sampled_from([1, 2, 3, 5, 20, 60])), \
        draw(st.integers(1, 3))
    seed, level = draw(st.integers(0, 2**16)), draw(st.sampled_from([0.0, 1.0, -3.0, 150.0]))
    spread = draw(st.sampled_from([1e-9, 1e-3, 1.0, 40.0]))
    values = level + spread * np.random.default_rng(seed).normal(size=(n_windows, n_steps, features))
    if draw(st.booleans()):  # a flat stretch: the robust statistics' quartiles may coincide
        values[:, : n_steps // 2 + 1] = level
    return values


@SETTINGS
@given(windows=input_windows(), kind=st.sampled_from(["standard", "robust"]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_window_normalization_is_exactly_invertible_given_its_statistics(windows, kind, dtype):
    x = torch.from_numpy(windows).to(dtype)
    centre, spread = window_statistics(x, kind)
    normalized = normalize(x, kind)
    assert normalized.dtype == dtype and torch.isfinite(normalized).all()
    # Within rounding of the values' own size: a few units of the dtype's last place.
    tolerance = 16 * torch.finfo(dtype).eps * x.abs().amax(dim=(1, 2), keepdim=True)
    assert ((denormalize(normalized, centre, spread) - x).abs() <= tolerance).all()
