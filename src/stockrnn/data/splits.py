"""Turn date bounds into row ranges of windows: train, validation (last share of train), test.

Rows are trading days in date order. A window is named by the row of its first target (see
windows.py). Train and validation windows read and forecast training rows only; test windows
forecast test rows and may read the days before test_start, so every test day is forecast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from stockrnn.errors import NotEnoughRows


@dataclass(frozen=True)
class WindowRange:
    """Windows whose first target rows are first, first + 1, ..., first + count - 1."""

    first: int
    count: int

    @property
    def stop(self) -> int:
        return self.first + self.count


@dataclass(frozen=True)
class Splits:
    train_rows: tuple[int, int]  # [start, stop) of the rows the scaler is fit on
    test_rows: tuple[int, int]
    train: WindowRange
    val: WindowRange
    test: WindowRange


def date_bound(value, end: bool) -> pd.Timestamp:
    """A year (2016), month (2016-06) or date as an inclusive bound: its first or last moment.

    Raises ValueError for anything else; the config check turns that into a message naming the key.
    """
    # pd.Period alone would also take "sept" (September of this year) or "2016-6".
    if isinstance(value, bool) or not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", str(value)):
        raise ValueError(value)
    period = pd.Period(str(value))
    return period.end_time if end else period.start_time


def _rows_between(dates: pd.DatetimeIndex, start, end, what: str) -> tuple[int, int]:
    """[first, stop) of the rows within the inclusive bounds; a null bound is the data's edge."""
    first = 0 if start is None else int(dates.searchsorted(date_bound(start, end=False), "left"))
    stop = len(dates) if end is None else int(dates.searchsorted(date_bound(end, end=True), "right"))
    if stop <= first:
        raise NotEnoughRows(
            f"the {what} range {range_text(start, end)} holds no rows; the data covers "
            f"{dates[0].date()}..{dates[-1].date()}"
        )
    return first, stop


def range_text(start, end) -> str:
    """`2016..2020`, with `first row` / `last row` for a null bound."""
    return f"{'first row' if start is None else start}..{'last row' if end is None else end}"


def train_window_count_needed(val_fraction: float) -> int:
    """Fewest windows that leave at least one for training and one for validation."""
    n = 2
    while int(n * (1 - val_fraction)) < 1 or n - int(n * (1 - val_fraction)) < 1:
        n += 1
    return n


def split_rows(dates: pd.DatetimeIndex, train_start, train_end, test_start, test_end,
               n_steps: int, horizon: int, val_fraction: float) -> Splits:
    """Window ranges for each split; raises StockrnnError naming the range that is too short.

    The bounds are valid and in order (checked with the config, see check_data_settings).
    """
    train_first, train_stop = _rows_between(dates, train_start, train_end, "train")
    test_first, test_stop = _rows_between(dates, test_start, test_end, "test")

    n_windows = (train_stop - train_first) - n_steps - horizon + 1
    needed = train_window_count_needed(val_fraction)
    if n_windows < needed:
        raise NotEnoughRows(
            f"the train range {range_text(train_start, train_end)} has {train_stop - train_first} rows; "
            f"n_steps={n_steps} and horizon={horizon} with val_fraction={val_fraction} need at "
            f"least {n_steps + horizon - 1 + needed}"
        )
    n_train = int(n_windows * (1 - val_fraction))
    train = WindowRange(train_first + n_steps, n_train)
    val = WindowRange(train.stop, n_windows - n_train)

    n_test = (test_stop - test_first) - horizon + 1
    if n_test < 1:
        raise NotEnoughRows(
            f"the test range {range_text(test_start, test_end)} has {test_stop - test_first} rows; "
            f"horizon={horizon} needs at least {horizon}"
        )
    return Splits((train_first, train_stop), (test_first, test_stop), train, val,
                  WindowRange(test_first, n_test))
