"""Read what data.* names (one CSV or embedded series; a panel: a long CSV with a series column, a glob
of CSVs, a wide CSV, or an embedded panel) into one date-indexed frame per series, named and in a
stable order: one series is a panel of one."""

from __future__ import annotations

import glob
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from stockrnn.data.prices import (check_dated, date_codes, dated_frame, file_column, load_embedded,
                                  read_csv_text, read_price_csv, tidy_price_frame)
from stockrnn.errors import StockrnnError

log = logging.getLogger(__name__)

PANEL_LAYOUTS = ("long", "wide")  # data.layout: rows of every series with a series column, or a column each
GLOB_CHARACTERS = "*?["
# Real daily prices of several stocks that ship inside a registry package: no download.
EMBEDDED_PANELS = {
    "sp500_stocks": "20 S&P 500 stocks' daily adjusted closes 1990-01-02..2022-12-28, shipped with skfolio",
}
# Where each embedded panel's wide CSV lies inside its package (read without importing the package,
# which would pull in its whole optimisation stack), and the extra that installs the package.
_PANEL_FILES = {"sp500_stocks": ("skfolio", "datasets/data/sp500_dataset.csv.gz", "Date", "panel")}
SHOWN_NAMES = 10  # available series listed in an error about an unknown one


def is_glob(path: str | None) -> bool:
    return path is not None and any(character in str(path) for character in GLOB_CHARACTERS)


def is_panel(path: str | None, embedded: str | None, series_column: str | None, layout: str = "long") -> bool:
    """True when the settings describe several series: series_column set, layout == 'wide', a path with
    glob characters (* ? [), or an embedded panel name (data.path, when set, wins over data.embedded)."""
    return (bool(series_column) or layout == "wide" or is_glob(path)
            or (path is None and embedded in EMBEDDED_PANELS))


def read_panel(path, embedded, date_column, sep, decimal, series_column, layout, target,
               series: list[str] | None) -> dict[str, pd.DataFrame]:
    """Series name -> its frame, sorted by name: each frame indexed by a sorted DatetimeIndex named
    'date' of unique dates, its columns as the file has them (long CSV: every column except the
    series column; a glob: each file's columns; wide: ONE column named `target`, the series' prices).
    `series` selects a subset (None = all). A single series' settings give a panel of one."""
    check_series_setting(series)
    if path is None:
        source = f"embedded dataset '{embedded}'"
        panel = _read_embedded(embedded, series_column, layout, target)
    elif is_glob(path):
        source = f"data.path={path}"
        if series_column or layout == "wide":
            raise StockrnnError(f"{source}: a glob reads one series per file; data.series_column and "
                                "data.layout=wide describe one file holding several (set one or the other)")
        return _checked(_read_glob(path, date_column, sep, decimal, series), source)
    else:
        source = str(Path(path).expanduser())
        text_columns = (series_column, date_column) if series_column else ()
        raw = read_csv_text(path, sep, decimal, text_columns=text_columns)
        if layout == "wide":
            if series_column:
                raise StockrnnError(f"{source}: data.layout=wide has one column per series; "
                                    f"data.series_column={series_column} is for the long layout "
                                    "(one row per series and date)")
            panel = _wide_series(dated_frame(raw, source, _date_spelling(raw, source, date_column)),
                                 target, source)
        elif series_column:
            panel = _long_series(raw, source, date_column, series_column, series)
        else:
            panel = {Path(path).stem: tidy_price_frame(raw, source, date_column)}  # as read_price_csv
    return _checked({name: panel[name] for name in _selected(list(panel), series, source)}, source)


def check_series_setting(series) -> None:
    """data.series: null, or a non-empty list of non-empty names (a ticker that reads as a number,
    such as 7203, must be quoted to stay a name)."""
    if series is None:
        return
    names = list(series) if isinstance(series, Sequence) and not isinstance(series, str) else None
    if not names or not all(isinstance(name, str) and name.strip() for name in names):
        raise StockrnnError(f"data.series={_shown(series)}: expected a list of series names, e.g. "
                            "[AAPL, MSFT] (quote one that reads as a number: '[\"7203\"]'), "
                            "or null for every series")


def _shown(value) -> str:
    return str(list(value)) if isinstance(value, Sequence) and not isinstance(value, str) else repr(value)


def _checked(panel: dict[str, pd.DataFrame], source: str) -> dict[str, pd.DataFrame]:
    warn_missing_dates(panel, source)
    return panel


def _read_embedded(name: str, series_column, layout, target) -> dict[str, pd.DataFrame]:
    source = f"embedded dataset '{name}'"
    if series_column or (layout == "wide" and name not in _PANEL_FILES):
        raise StockrnnError(f"data.series_column and data.layout=wide describe a CSV (data.path), not "
                            f"{source} (embedded panels: {', '.join(EMBEDDED_PANELS)})")
    if name not in _PANEL_FILES:
        return {name: load_embedded(name)}
    package, inside, date_column, extra = _PANEL_FILES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise StockrnnError(f"{source} ships with the {package} package, which is not installed: "
                            f"pip install 'stockrnn[{extra}]'")
    raw = pd.read_csv(Path(spec.origin).parent / inside)
    return _wide_series(tidy_price_frame(raw, source, date_column), target, source)


def _read_glob(pattern: str, date_column, sep, decimal, series) -> dict[str, pd.DataFrame]:
    """One series per matching file, named by the file's stem; only the selected files are read."""
    source = f"data.path={pattern}"
    files = sorted(Path(name) for name in glob.glob(str(Path(pattern).expanduser()), recursive=True))
    files = [file for file in files if file.is_file()]
    if not files:
        raise StockrnnError(f"{source} matches no file")
    by_stem: dict[str, Path] = {}
    for file in files:
        if file.stem in by_stem:
            raise StockrnnError(f"{source}: {by_stem[file.stem]} and {file} would both be series "
                                f"'{file.stem}' (a series is named by its file's name); narrow the pattern")
        by_stem[file.stem] = file
    return {name: read_price_csv(by_stem[name], date_column, sep, decimal)
            for name in _selected(list(by_stem), series, source)}


def _date_spelling(raw: pd.DataFrame, source: str, date_column: str, series_column: str | None = None) -> str:
    """The file's spelling of the date column (the wanted name when it has none, for
    dated_frame's message), so that no second copy of it joins the columns."""
    spelling = file_column(raw.columns, date_column, source)
    if spelling not in (None, date_column):
        log.info("%s: matched columns without regard to case: '%s' as '%s'", source, spelling, date_column)
    if spelling is not None and spelling == series_column:
        raise StockrnnError(f"{source}: data.date_column and data.series_column both name "
                            f"column '{spelling}'")
    return spelling or date_column


def _long_series(raw: pd.DataFrame, source: str, date_column: str, series_column: str,
                 series: list[str] | None) -> dict[str, pd.DataFrame]:
    """Split rows of every series by the series column, one row per series and date; only the
    selected series are kept. Takes raw's columns out one at a time, so that its numbers are
    never held twice: one stable sort by (series, date), then a slice of each column per series."""
    column = file_column(raw.columns, series_column, source)
    if column is None:
        raise StockrnnError(f"{source}: no series column '{series_column}' (columns: "
                            f"{', '.join(map(str, raw.columns))}); set data.series_column")
    if column != series_column:
        log.info("%s: matched columns without regard to case: '%s' as '%s'", source, column, series_column)
    names, name_codes = _series_names(raw, source, column, date_column)
    date = _date_spelling(raw, source, date_column, series_column=column)
    check_dated(raw, source, date)
    days, row_days = _row_days(raw[date], source, date)
    # One integer a row that sorts as (series name, date): a single stable sort orders every row.
    key = name_codes.astype(np.int32 if len(names) * len(days) < 2**31 else np.int64) * len(days) + row_days
    del name_codes
    # A file already in that order (grouped by series, dated in order) needs no sort and no copy.
    order = None if bool((key[1:] >= key[:-1]).all()) else np.argsort(key, kind="stable")
    if order is not None:
        key.sort()  # in place: key[order] without a second copy
    _refuse_duplicates(key, order, names, days, source)
    bounds = np.searchsorted(key, np.arange(len(names) + 1) * len(days))  # each series' rows in order
    del key
    position = {name: code for code, name in enumerate(names)}
    chosen = [position[name] for name in _selected(list(names), series, source)]
    if len(chosen) < len(names):  # only the selected series' rows are taken
        rows = np.arange(len(row_days)) if order is None else order
        order = np.concatenate([rows[bounds[code]:bounds[code + 1]] for code in chosen])
    lengths = np.diff(bounds)[chosen]
    stops = np.cumsum(lengths)
    row_dates = days[row_days if order is None else row_days[order]]
    del row_days
    columns = {name: raw.pop(name).array if order is None else raw.pop(name).array.take(order)
               for name in list(raw.columns) if name not in (column, date)}
    del order
    return {str(names[code]): _rows(columns, row_dates, stop - length, stop)
            for code, stop, length in zip(chosen, stops, lengths)}


def _rows(columns: dict, dates: np.ndarray, first: int, stop: int) -> pd.DataFrame:
    """Rows first..stop of the columns, indexed by their dates: views, not copies."""
    return pd.DataFrame({name: values[first:stop] for name, values in columns.items()},
                        index=pd.DatetimeIndex(dates[first:stop], name="date", copy=False), copy=False)


def _series_names(raw: pd.DataFrame, source: str, column: str,
                  date_column: str) -> tuple[np.ndarray, np.ndarray]:
    """The series' names, stripped and sorted, and each row's index into them; a row without one is
    an error naming it and its date."""
    values = raw[column].astype("category")  # as read_csv_text reads it: each distinct name stripped once
    text = pd.Series(values.cat.categories, dtype=object).astype("string").str.strip()
    codes = values.cat.codes.to_numpy()
    # A missing name has code -1, which picks the last entry: True.
    empty = np.append((text == "").to_numpy(dtype=bool), True)[codes]
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        date = file_column(raw.columns, date_column, source)
        on = f" (date {raw[date].iloc[row]})" if date is not None else ""
        raise StockrnnError(f"{source}: column '{column}' has no series name in data row {row + 1}{on}; "
                            "every row needs one")
    names, name_of_text = np.unique(text.to_numpy(dtype=object), return_inverse=True)
    return names, name_of_text.astype(np.int32)[codes]


def _row_days(raw: pd.Series, source: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    """The distinct dates, sorted, and each row's index into them (two texts may be one date)."""
    codes, distinct = date_codes(raw, source, column)
    days, day_of_text = np.unique(distinct.to_numpy(), return_inverse=True)
    return days, day_of_text.astype(np.int32)[codes]


def _refuse_duplicates(key: np.ndarray, order: np.ndarray | None, names: np.ndarray, days: np.ndarray,
                       source: str) -> None:
    """An error when rows share a series and date (key sorted; order: each one's row in the file, None
    when the file has them in that order): the pair first by date, then by row, and how many pairs."""
    repeats = np.flatnonzero(key[1:] == key[:-1])  # where a row repeats the one before it
    if repeats.size == 0:
        return
    run = np.flatnonzero(np.r_[True, np.diff(repeats) > 1])  # the first repeat of each pair's rows
    firsts, counts = repeats[run], np.diff(np.r_[run, repeats.size]) + 1
    file_rows = firsts if order is None else order[firsts]
    pair = np.lexsort((file_rows, key[firsts] % len(days)))[0]
    name, day = divmod(int(key[firsts[pair]]), len(days))
    more = f" ({len(firsts)} such series and dates in all)" if len(firsts) > 1 else ""
    raise StockrnnError(f"{source}: series '{names[name]}' has {counts[pair]} rows dated "
                        f"{pd.Timestamp(days[day]).date()}{more}; expected one row per series and date")


def _wide_series(frame: pd.DataFrame, target: str, source: str) -> dict[str, pd.DataFrame]:
    """Each column of a dated frame as a series with the one column `target`, its leading and
    trailing missing values (listed later, delisted) trimmed; missing values inside stay for data.fill."""
    if frame.columns.empty:
        raise StockrnnError(f"{source}: no series columns beside the date column (data.layout=wide)")
    panel = {}
    for name in frame.columns:
        values = frame[name]
        present = values.notna()
        if not pd.api.types.is_numeric_dtype(values):  # a blank text cell is no value either
            present &= values.astype("string").str.strip().ne("").fillna(False)
        present = np.flatnonzero(present.to_numpy())
        if present.size == 0:
            log.warning("%s: column '%s' has no value; left out of the panel", source, name)
            continue
        panel[str(name)] = values.iloc[present[0]:present[-1] + 1].to_frame(target)
    if not panel:
        raise StockrnnError(f"{source}: no column has a value (data.layout=wide reads one series per column)")
    return dict(sorted(panel.items()))


def _selected(names: list[str], series: list[str] | None, source: str) -> list[str]:
    """The names data.series selects (all when None), sorted; an unknown one is an error."""
    available = sorted(names)
    if series is None:
        return available
    known = set(available)
    for name in series:
        if name not in known:
            same = [other for other in available if other.casefold() == str(name).casefold()]
            hint = f" (did you mean '{same[0]}'? names are compared exactly)" if same else ""
            shown = ", ".join(available[:SHOWN_NAMES]) + (f", ... ({len(available)} in all)"
                                                          if len(available) > SHOWN_NAMES else "")
            raise StockrnnError(f"{source}: no series '{name}' in data.series{hint}; available: {shown}")
    return sorted(set(series))


def warn_missing_dates(panel: dict[str, pd.DataFrame], source: str) -> None:
    """A warning for each series lacking, between its own first and last date, dates that most other
    series listed then have (a halt, or lost rows): not an error, real data has halts."""
    if len(panel) < 2:
        return
    dates = pd.DatetimeIndex(np.unique(np.concatenate([frame.index.to_numpy() for frame in panel.values()])))
    present = np.zeros((len(dates), len(panel)), dtype=bool)
    listed = np.zeros_like(present)
    for column, frame in enumerate(panel.values()):
        rows = dates.get_indexer(frame.index)
        present[rows, column] = True
        listed[rows[0]:rows[-1] + 1, column] = True
    n_present, n_listed = present.sum(axis=1), listed.sum(axis=1)
    for column, name in enumerate(panel):
        # Where this series lacks a date, every series that has it is another one.
        lacking = listed[:, column] & ~present[:, column] & (2 * n_present > n_listed - 1)
        if lacking.any():
            log.warning("%s: series '%s' lacks %d dates that most other series have, within its own first "
                        "and last date (first: %s); a trading halt, or missing rows?", source, name,
                        int(lacking.sum()), dates[lacking][0].date())
