"""A walk-forward backtest's folds: from the backtest settings and the data's dates to plain records
of date bounds. The test periods are contiguous, do not overlap, and the last ends at
data.test_end; each fold trains on the days before its test period (all of them, or the last
backtest.train_length), and validates on the last val_fraction of its training windows as train does."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from stockrnn.data.splits import date_bound, range_text, split_rows
from stockrnn.errors import StockrnnError

log = logging.getLogger(__name__)

WINDOWS = ("expanding", "sliding")
# Fewest training windows a fold is not warned about: about a trading year (252 NYSE sessions). A
# fold with less has seen under a year of prices: its test year's prices readily leave the range it
# was scaled on (the default MSFT backtest's first fold trained on ten months of 2012, skill -9.5).
MIN_TRAIN_WINDOWS = 250
_CALENDAR = re.compile(r"(\d+)\s*([YM])", re.IGNORECASE)


@dataclass(frozen=True)
class Fold:
    """One forecast origin: data.* bounds for a train run (inclusive, as YYYY-MM-DD or null)."""

    number: int  # 1 = the earliest
    train_start: str | None
    train_end: str
    test_start: str
    test_end: str

    def bounds(self) -> dict:
        return {"train_start": self.train_start, "train_end": self.train_end,
                "test_start": self.test_start, "test_end": self.test_end}

    def describe(self) -> str:
        return (f"fold {self.number} (train {range_text(self.train_start, self.train_end)}, "
                f"test {self.test_start}..{self.test_end})")


@dataclass(frozen=True)
class Length:
    """A period: calendar months (a year is 12) or trading days (rows of the data)."""

    amount: int
    trading_days: bool


def parse_length(value, key: str) -> Length:
    """`1Y`, `6M`, `3M` (calendar years or months) or a whole number of trading days."""
    text = str(value).strip()
    if not isinstance(value, bool) and text.isdigit() and int(text) > 0:
        return Length(int(text), trading_days=True)
    match = _CALENDAR.fullmatch(text)
    if match and int(match[1]) > 0:
        return Length(int(match[1]) * (12 if match[2].upper() == "Y" else 1), trading_days=False)
    raise StockrnnError(f"{key}={value!r}: expected years or months such as 1Y, 6M, 3M, or a number of "
                        "trading days such as 63")


def _day(timestamp: pd.Timestamp) -> str:
    return timestamp.strftime("%Y-%m-%d")


def _step_back(dates: pd.DatetimeIndex, end: pd.Timestamp, length: Length, times: int) -> pd.Timestamp:
    """The day `times` lengths before `end`: in calendar months, or in trading days (rows)."""
    if length.trading_days:
        row = int(dates.searchsorted(end, "right")) - 1 - times * length.amount
        return dates[row] if row >= 0 else dates[0] - pd.Timedelta(days=1)
    # Step from the day after `end` and back one day: month ends stay month ends (2021-06-30 - 6M
    # = 2020-12-31, not 2020-12-30), and any other day keeps its day of the month.
    day = pd.Timedelta(days=1)
    return end + day - pd.DateOffset(months=length.amount * times) - day


def plan_folds(dates: pd.DatetimeIndex, backtest: Mapping, data: Mapping) -> list[Fold]:
    """The folds of a backtest on data with these (sorted, trading-day) dates."""
    count = backtest.get("folds")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise StockrnnError(f"backtest.folds={count!r}: expected a positive integer")
    window = backtest.get("window")
    if window not in WINDOWS:
        raise StockrnnError(f"backtest.window={window!r}: expected one of {', '.join(WINDOWS)}")
    test_length = parse_length(backtest.get("test_length"), "backtest.test_length")
    train_length = None
    if window == "sliding":
        if backtest.get("train_length") is None:
            raise StockrnnError("backtest.window=sliding needs backtest.train_length (e.g. 5Y, or a number "
                                "of trading days)")
        train_length = parse_length(backtest.get("train_length"), "backtest.train_length")

    last = dates[-1] if data.get("test_end") is None else date_bound(data["test_end"], end=True).normalize()
    first = None if data.get("train_start") is None else date_bound(data["train_start"], end=False)
    boundaries = [_step_back(dates, last, test_length, j) for j in range(count + 1)]
    folds = []
    for number, j in enumerate(range(count, 0, -1), start=1):
        test_start = boundaries[j] + pd.Timedelta(days=1)
        train_end = boundaries[j]
        train_start = first
        if train_length is not None:
            sliding_start = _step_back(dates, train_end, train_length, 1) + pd.Timedelta(days=1)
            train_start = sliding_start if first is None else max(first, sliding_start)
        folds.append(Fold(number, None if train_start is None else _day(train_start), _day(train_end),
                          _day(test_start), _day(boundaries[j - 1])))
    return folds


def check_folds(folds: list[Fold], dates: pd.DatetimeIndex, data: Mapping) -> None:
    """Every fold has enough training windows and test rows, before any fold trains: a fold that
    cannot run is an error naming it and its dates; one that can but has fewer than
    MIN_TRAIN_WINDOWS training windows is warned about (it runs: a short history may be all the
    data has), with its numbers and the keys that give it more."""
    for fold in folds:
        try:
            splits = split_rows(dates, fold.train_start, fold.train_end, fold.test_start, fold.test_end,
                                data["n_steps"], data["horizon"], data["val_fraction"])
        except StockrnnError as err:
            raise StockrnnError(f"{fold.describe()}: {err}") from None
        if splits.train.count < MIN_TRAIN_WINDOWS:
            log.warning("%s: %d training windows (and %d validation windows), fewer than %d (about a trading "
                        "year): it learns from less than a year of prices. Give it more history: an earlier "
                        "data.train_start (now %s), fewer backtest.folds or a shorter backtest.test_length (with "
                        "backtest.window=sliding, a longer backtest.train_length)", fold.describe(),
                        splits.train.count, splits.val.count, MIN_TRAIN_WINDOWS,
                        "null, the data's first row" if data.get("train_start") is None else data["train_start"])
