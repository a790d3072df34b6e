"""The trading days after a date: an exchange's sessions (exchange_calendars, data.calendar), or weekdays."""

from __future__ import annotations

import logging

import exchange_calendars
import pandas as pd

from stockrnn.errors import StockrnnError

log = logging.getLogger(__name__)

# data.calendar's explicit spelling of null: on the predict command line null keeps the checkpoint's.
WEEKDAYS = "weekdays"
COMMON_CODES = "XNYS (New York), XNAS (Nasdaq), XLON (London), XETR (Xetra), XTKS (Tokyo), XHKG (Hong Kong)"
LIST_CODES = "python -c 'import exchange_calendars; print(exchange_calendars.get_calendar_names())'"


def check_calendar(name) -> None:
    """An exchange code exchange_calendars knows (aliases such as NYSE included), null or weekdays."""
    if name is None or name == WEEKDAYS:
        return
    names = exchange_calendars.get_calendar_names()
    if not isinstance(name, str) or name not in names:
        # exchange_calendars' codes are case-sensitive: xnys and nyse are XNYS and its alias NYSE.
        spelled = [known for known in names if isinstance(name, str) and known.lower() == name.lower()]
        hint = f"did you mean data.calendar={spelled[0]}? " if spelled else ""
        raise StockrnnError(f"data.calendar={name!r}: not an exchange calendar; {hint}expected a code such as "
                            f"{COMMON_CODES}, or weekdays for Monday to Friday (every code: {LIST_CODES})")


def exchange_calendar(name: str, first: pd.Timestamp, last: pd.Timestamp):
    """The calendar covering first..last: by default exchange_calendars covers only about 20 years back
    and one year ahead, too little for old data or a long horizon."""
    try:
        return exchange_calendars.get_calendar(name, start=first, end=last)
    except ValueError as err:  # e.g. a date before the first year whose holidays it records
        raise StockrnnError(f"data.calendar={name!r} cannot give the sessions from {first.date()} to "
                            f"{last.date()}: {str(err).splitlines()[0][:200]}") from None


def next_trading_days(last: pd.Timestamp, count: int, calendar: str | None = None,
                      source: str = "the data") -> pd.DatetimeIndex:
    """The `count` sessions of `calendar` after `last`; weekdays when it is null (or weekdays).
    A `last` that is not itself a session (a Saturday row, a holiday) is warned about, naming it."""
    last = pd.Timestamp(last).normalize()
    if calendar is None or calendar == WEEKDAYS:
        return pd.bdate_range(last + pd.Timedelta(days=1), periods=count)
    # Two calendar days per session and a month to spare cover the longest exchange closures.
    exchange = exchange_calendar(calendar, last - pd.Timedelta(days=7),
                                 last + pd.Timedelta(days=2 * count + 30))
    if not exchange.is_session(last):
        log.warning("%s: its last date, %s, is not a session of %s (a weekend or holiday there): the "
                    "forecast starts at the next session; set data.calendar to the series' exchange code, "
                    "or weekdays", source, last.date(), calendar)
    first = exchange.date_to_session(last + pd.Timedelta(days=1), direction="next")
    return pd.DatetimeIndex(exchange.sessions_window(first, count), freq=None)
