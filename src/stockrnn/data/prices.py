"""Read a price CSV (or the embedded series) into a clean frame: one row per date, numeric columns."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from stockrnn.errors import StockrnnError

log = logging.getLogger(__name__)

# A trailing UTC offset after a time of day ("2021-10-11 00:00:00-04:00"). Yahoo writes one per
# row and the offset changes with daylight saving; we keep the exchange's local calendar date.
_TRAILING_OFFSET = r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|UTC|[+-]\d{2}:?\d{2})$"
# One format must fit the whole column: per-value guessing would read 01/02 as January and
# 13/02 as February in the same file. Day-first d/m/Y is not offered: it is ambiguous with US.
DATE_FORMATS = {"ISO8601": "ISO (2021-10-11)", "%m/%d/%Y": "US (10/11/2021)", "%m/%d/%y": "US (10/11/21)",
                "%b %d, %Y": "Oct 11, 2021", "%d %b %Y": "11 Oct 2021"}
# Plain numbers, or integers grouped in threes by commas ("1,234,567.5"). A decimal comma ("1,5",
# "1.234,5") fits neither, and reading it anyway would silently scale a column by 1000.
_NUMBER = r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
FILLS = ("ffill",)  # data.fill; null means a missing value is an error
# The first bytes of files that get saved as .csv by mistake.
_BINARY_MAGIC = {b"\x1f\x8b": "gzip-compressed", b"PK\x03\x04": "a zip archive (an Excel .xlsx?)",
                 b"%PDF": "a PDF", b"\xd0\xcf\x11\xe0": "an old Excel .xls"}


def parse_dates(raw: pd.Series, source: str, column: str) -> pd.Series:
    """Parse ISO, US or month-name dates, with or without a time zone, to naive local timestamps."""
    empty = raw.isna().to_numpy() | (raw.astype("string").str.strip() == "").fillna(True).to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        after = f" (after '{raw.iloc[row - 1]}')" if row else ""
        raise StockrnnError(f"{source}: column '{column}' has no date in data row {row + 1}{after}; "
                            "every row needs a date")
    text = raw.astype("string").str.strip().str.replace(_TRAILING_OFFSET, r"\1", regex=True)
    best = None
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if parsed.notna().all():
            return parsed
        if best is None or parsed.notna().sum() > best.notna().sum():
            best = parsed
    row = int(np.flatnonzero(best.isna().to_numpy())[0])
    raise StockrnnError(
        f"{source}: column '{column}' has dates that do not parse (first: '{raw.iloc[row]}' in data "
        f"row {row + 1}); expected one format for the whole column: {', '.join(DATE_FORMATS.values())}")


def read_price_csv(path: str | Path, date_column: str) -> pd.DataFrame:
    """Read a CSV of dated rows; returns it sorted by date, duplicate dates dropped, dates as index."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise StockrnnError(f"data.path {path} is a directory; expected a CSV file")
    if not path.is_file():
        raise StockrnnError(f"data file not found: {path} (set data.path to an existing CSV)")
    try:
        with path.open("rb") as file:
            head = file.read(4096)
        kind = _binary_kind(head)
        if kind:
            raise StockrnnError(f"{path} is not a CSV text file: it looks like {kind}; "
                                "expected comma-separated text with a header row")
        # A stray latin-1 accent in a column we never read should not stop the run.
        encoding = "utf-16" if head.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8"
        raw = pd.read_csv(path, encoding=encoding, encoding_errors="replace")
    except pd.errors.EmptyDataError:
        raise StockrnnError(f"data file is empty: {path} (expected a header row and dated rows)") from None
    except pd.errors.ParserError as err:
        detail = str(err).strip().replace("Error tokenizing data. C error: ", "")
        raise StockrnnError(f"{path} is not a well-formed CSV: {detail}") from None
    except OSError as err:
        raise StockrnnError(f"cannot read data file {path}: {err.strerror or err}") from None
    return tidy_price_frame(raw, source=str(path), date_column=date_column)


def _binary_kind(head: bytes) -> str | None:
    for magic, kind in _BINARY_MAGIC.items():
        if head.startswith(magic):
            return kind
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary data"
    return None


def tidy_price_frame(raw: pd.DataFrame, source: str, date_column: str) -> pd.DataFrame:
    """Index by parsed date, sort, drop duplicate dates with a warning."""
    if date_column not in raw.columns:
        hint = ""
        if len(raw.columns) == 1 and any(sep in str(raw.columns[0]) for sep in ";\t|"):
            hint = "; only commas separate fields"
        raise StockrnnError(
            f"{source}: no date column '{date_column}' (columns: {', '.join(map(str, raw.columns))}); "
            f"set data.date_column{hint}"
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


def numeric_columns(frame: pd.DataFrame, columns: list[str], source: str,
                    fill: str | None = None) -> pd.DataFrame:
    """The requested columns as float64. Missing values are an error naming the column and first
    date, or with fill='ffill' take the previous day's value; text that is no number is an error."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise StockrnnError(
            f"{source}: column(s) {missing} not found; available: {', '.join(map(str, frame.columns))} "
            "(check data.features and data.target)"
        )
    out = {}
    for column in columns:
        values = _as_numbers(frame[column], source, column)
        gaps = values.isna()
        if gaps.any() and fill == "ffill":
            values = values.ffill()
            if values.isna().any():
                raise StockrnnError(
                    f"{source}: column '{column}' starts with missing values (first on "
                    f"{_first_date(frame, gaps)}); data.fill=ffill needs an earlier value to carry forward")
            log.warning("%s: filled %d missing values of column '%s' with the previous day's value "
                        "(data.fill=ffill), first on %s", source, int(gaps.sum()), column,
                        _first_date(frame, gaps))
        elif gaps.any():
            raise StockrnnError(
                f"{source}: column '{column}' has {int(gaps.sum())} missing values (first on "
                f"{_first_date(frame, gaps)}); set data.fill=ffill to carry the previous day's value forward")
        out[column] = values.to_numpy(dtype="float64")
    # copy=False: no consolidated copy of a possibly very long series.
    return pd.DataFrame(out, index=frame.index, copy=False)


def _first_date(frame: pd.DataFrame, rows: pd.Series) -> str:
    return str(frame.index[rows.to_numpy()][0].date())


def _as_numbers(values: pd.Series, source: str, column: str) -> pd.Series:
    """float64 with NaN where the file has no value; text numbers parsed when their form is plain."""
    if not pd.api.types.is_numeric_dtype(values):
        text = values.astype("string").str.strip()
        text = text.mask(text == "")  # a blank cell is a missing value, not a bad number
        fits = text.str.fullmatch(_NUMBER).fillna(True)
        if not fits.all():
            bad = text[~fits.to_numpy()]
            raise StockrnnError(
                f"{source}: column '{column}' holds '{bad.iloc[0]}' on {bad.index[0].date()}, not a "
                "number; expected numbers like 1234.5 or 1,234.5")
        grouped = text.str.contains(",").fillna(False)
        # "1,234" alone could be a thousand or a decimal comma; a decimal point elsewhere in the
        # column, or a second group ("1,234,567"), settles which.
        if grouped.any() and not text.str.contains(".", regex=False).fillna(False).any() \
                and (text[grouped].str.count(",") == 1).all():
            raise StockrnnError(
                f"{source}: column '{column}' writes numbers like '{text[grouped].iloc[0]}', which could "
                "mean a thousand or a decimal comma; write them without thousands separators")
        values = pd.to_numeric(text.str.replace(",", "", regex=False))
    values = values.astype("float64")
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        raise StockrnnError(f"{source}: column '{column}' holds an infinite value on "
                            f"{values.index[infinite][0].date()}; expected finite numbers")
    return values


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
