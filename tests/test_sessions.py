"""Forecast dates are an exchange's sessions (data.calendar): holidays skipped, clear errors and warnings."""

import logging

import pandas as pd
import pytest

from stockrnn.data.sessions import next_trading_days
from stockrnn.errors import StockrnnError
from stockrnn.utils.config import check_data_settings

from conftest import run_module

SETTINGS = dict(n_steps=5, horizon=1, batch_size=8, val_fraction=0.2, scaler="minmax", features=["High"],
                train_end="2019", test_start="2020")


def days(last: str, count: int, calendar, **kwargs) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in next_trading_days(pd.Timestamp(last), count, calendar, **kwargs)]


def test_new_york_sessions_skip_thanksgiving_and_christmas_eve():
    assert days("2021-11-24", 3, "XNYS") == ["2021-11-26", "2021-11-29", "2021-11-30"]
    assert days("2021-12-23", 3, "XNYS") == ["2021-12-27", "2021-12-28", "2021-12-29"]


def test_null_and_weekdays_give_monday_to_friday():
    for calendar in (None, "weekdays"):
        assert days("2021-11-24", 3, calendar) == ["2021-11-25", "2021-11-26", "2021-11-29"]
        assert days("2021-10-08", 3, calendar) == ["2021-10-11", "2021-10-12", "2021-10-13"]  # a Friday


def test_other_exchanges_and_old_data_get_their_own_sessions():
    # London: Christmas, Boxing Day (Monday 27th as the 26th is a Sunday) and 28 Dec 2021 are closed.
    assert days("2021-12-23", 3, "XLON") == ["2021-12-24", "2021-12-29", "2021-12-30"]
    # Before the calendar's default range (about 20 years back): New Year's Eve 1999 was a session.
    assert days("1999-12-30", 3, "XNYS") == ["1999-12-31", "2000-01-03", "2000-01-04"]
    # A horizon reaching past next year: 25 sessions left in 2021, 251 in 2022, 20 in January 2023.
    assert days("2021-11-24", 300, "XNYS")[-5:] == ["2023-01-31", "2023-02-01", "2023-02-02", "2023-02-03",
                                                   "2023-02-06"]


def test_a_last_date_that_is_not_a_session_warns_naming_it(caplog):
    with caplog.at_level(logging.WARNING, logger="stockrnn"):
        # A Saturday, then Thanksgiving.
        assert days("2021-11-27", 2, "XNYS", source="prices.csv") == ["2021-11-29", "2021-11-30"]
        assert days("2021-11-25", 1, "XNYS", source="prices.csv") == ["2021-11-26"]
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "prices.csv: its last date, 2021-11-27, is not a session of XNYS",
        "prices.csv: its last date, 2021-11-25, is not a session of XNYS"]
    caplog.clear()
    days("2021-11-26", 2, "XNYS")
    assert not caplog.records


def test_the_calendar_is_checked_with_the_data_settings():
    for calendar in ("XNYS", "NYSE", "XLON", "24/7", "weekdays", None):
        check_data_settings(SETTINGS | {"calendar": calendar})
    for calendar in ("XNYZ", 3):
        expected = r"not an exchange calendar; expected a code such as XNYS \(New York\).*get_calendar_names"
        with pytest.raises(StockrnnError, match=rf"data.calendar={calendar!r}: {expected}"):
            check_data_settings(SETTINGS | {"calendar": calendar})
    for calendar, code in (("xnys", "XNYS"), ("nyse", "NYSE")):  # the codes are case-sensitive: the right case named
        with pytest.raises(StockrnnError, match=rf"data.calendar={calendar!r}: not an exchange calendar; did you "
                                                rf"mean data.calendar={code}\? expected a code such as XNYS"):
            check_data_settings(SETTINGS | {"calendar": calendar})


def test_a_date_the_calendar_does_not_record_is_a_clear_error():
    with pytest.raises(StockrnnError, match=r"data.calendar='XKRX' cannot give the sessions from .* only "
                                            r"recorded back to the year 1956"):
        next_trading_days(pd.Timestamp("1950-01-02"), 3, "XKRX")


def test_an_unknown_exchange_code_stops_train_with_one_line_before_any_data(tmp_path):
    run_dir = tmp_path / "run"
    # A file that does not exist: the calendar is named first, so nothing was read.
    result = run_module("stockrnn.train", f"hydra.run.dir={run_dir}", "data=csv", "trainer=cpu",
                        "data.path=/nonexistent/prices.csv", "data.train_end=2019", "data.test_start=2020",
                        "data.calendar=XNYZ")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.splitlines() == [(
        "stockrnn: error: data.calendar='XNYZ': not an exchange calendar; expected a code such as XNYS "
        "(New York), XNAS (Nasdaq), XLON (London), XETR (Xetra), XTKS (Tokyo), XHKG (Hong Kong), or weekdays "
        "for Monday to Friday (every code: python -c 'import exchange_calendars; "
        "print(exchange_calendars.get_calendar_names())')")]
    assert sorted(p.name for p in run_dir.iterdir()) == [".hydra", "train.log"]  # Hydra's own, no results
