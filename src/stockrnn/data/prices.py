"""Read a price CSV (or the embedded series) into a clean frame: one row per date, numeric columns."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import pandas as pd

from stockrnn.errors import StockrnnError

log = logging.getLogger(__name__)

# A trailing UTC offset after a time of day ("2021-10-11 00:00:00-04:00"). Yahoo writes one per
# row and the offset changes with daylight saving; we keep the exchange's local calendar date.
_TRAILING_OFFSET = r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|UTC|[+-]\d{2}:?\d{2})$"


def parse_dates(raw: pd.Series, source: str, column: str) -> pd.Series:
    """Parse ISO or US m/d/Y dates, with or without a time zone, to naive local timestamps."""
    text = raw.astype("string").str.strip().str.replace(_TRAILING_OFFSET, r"\1", regex=True)
    for fmt in ("ISO8601", "%m/%d/%Y", "mixed"):
        try:
            return pd.to_datetime(text, format=fmt)
        except (ValueError, TypeError):
            continue
    bad = next(v for v in raw.astype(str) if pd.isna(pd.to_datetime(v, errors="coerce", format="mixed")))
    raise StockrnnError(
        f"{source}: column '{column}' has dates that do not parse (first: '{bad}'); "
        "expected ISO (2021-10-11) or US (10/11/2021) dates"
    )


def read_price_csv(path: str | Path, date_column: str) -> pd.DataFrame:
    """Read a CSV of dated rows; returns it sorted by date, duplicate dates dropped, dates as index."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise StockrnnError(f"data file not found: {path} (set data.path to an existing CSV)")
    try:
        raw = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise StockrnnError(f"data file is empty: {path}") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as err:
        raise StockrnnError(f"{path} is not a readable CSV file ({type(err).__name__})") from None
    return tidy_price_frame(raw, source=str(path), date_column=date_column)


def tidy_price_frame(raw: pd.DataFrame, source: str, date_column: str) -> pd.DataFrame:
    """Index by parsed date, sort, drop duplicate dates with a warning."""
    if date_column not in raw.columns:
        raise StockrnnError(
            f"{source}: no date column '{date_column}' (columns: {', '.join(map(str, raw.columns))}); "
            "set data.date_column"
        )
    if raw.empty:
        raise StockrnnError(f"{source}: has a header but no rows")
    frame = raw.drop(columns=[date_column])
    frame.index = pd.DatetimeIndex(parse_dates(raw[date_column], source, date_column), name="date")
    frame = frame.sort_index(kind="stable")
    duplicated = frame.index.duplicated(keep="first")
    if duplicated.any():
        log.warning(
            "%s: dropped %d rows with a duplicate date (kept the first of each), e.g. %s",
            source, int(duplicated.sum()), frame.index[duplicated][0].date(),
        )
        frame = frame[~duplicated]
    return frame


def numeric_columns(frame: pd.DataFrame, columns: list[str], source: str) -> pd.DataFrame:
    """The requested columns as float64; names the missing column or the first bad value."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise StockrnnError(
            f"{source}: column(s) {missing} not found; available: {', '.join(map(str, frame.columns))} "
            "(check data.features and data.target)"
        )
    out = {}
    for column in columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values):
            # Text numbers such as "1,234.5" are unambiguous once the thousands separators go.
            values = pd.to_numeric(values.astype("string").str.replace(",", "", regex=False), errors="coerce")
        missing_rows = values.isna()
        if missing_rows.any():
            first = frame.index[missing_rows.to_numpy()][0].date()
            raise StockrnnError(
                f"{source}: column '{column}' has {int(missing_rows.sum())} missing or non-numeric "
                f"values (first on {first})"
            )
        out[column] = values.to_numpy(dtype="float64")
    # copy=False: no consolidated copy of a possibly very long series.
    return pd.DataFrame(out, index=frame.index, copy=False)


# Real daily OHLC series that ship inside dependencies: module, loader, what it is.
EMBEDDED = {
    "msft": ("pmdarima.datasets", "load_msft", "Microsoft daily OHLCV 1986-03-13..2017-11-10"),
    "sp500": ("arch.data.sp500", "load", "S&P 500 index daily OHLC 1999-2018"),
    "nasdaq": ("arch.data.nasdaq", "load", "NASDAQ Composite daily OHLC 1999-2018"),
}


def load_embedded(name: str) -> pd.DataFrame:
    """A real daily series shipped inside a dependency, so these runs need no download."""
    if name not in EMBEDDED:
        raise StockrnnError(f"unknown embedded dataset '{name}'; available: {', '.join(EMBEDDED)}")
    module_name, loader, _ = EMBEDDED[name]
    # Imported here: these pull in statsmodels and friends, needed only for this.
    raw = getattr(importlib.import_module(module_name), loader)()
    if "Date" not in raw.columns:
        raw = raw.rename_axis("Date").reset_index()
    return tidy_price_frame(raw, source=f"embedded dataset '{name}'", date_column="Date")
