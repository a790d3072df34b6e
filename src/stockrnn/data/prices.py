"""Read a price CSV (or the embedded series) into a clean frame: one row per date, numeric columns.

Longer than the house's ~300 lines on purpose: every way a user's file can be wrong (encoding,
separator, decimal comma, date spelling, binary files, missing values) is refused here, at the one
boundary where files come in, each with a message naming the file, column and row."""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

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
SEPARATORS = (",", ";", "\t")  # data.sep; null: the one the header line uses most
DECIMALS = (".", ",")  # data.decimal; null: a comma when another separator leaves room for it
# A number written with a decimal comma, its thousands grouped by points or not ("1.234,5", "12,5").
_COMMA_NUMBER = r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d*)?"
# d/m/Y with its day first: told apart from US m/d/Y only when some day exceeds 12.
_DAY_FIRST = r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})"
CHUNK_ROWS = 262_144  # rows parsed at a time: a long file's text is never all in memory at once
# The first bytes of files that get saved as .csv by mistake.
_BINARY_MAGIC = {b"\x1f\x8b": "gzip-compressed", b"PK\x03\x04": "a zip archive (an Excel .xlsx?)",
                 b"%PDF": "a PDF", b"\xd0\xcf\x11\xe0": "an old Excel .xls"}


def parse_dates(raw: pd.Series, source: str, column: str) -> pd.Series:
    """Parse ISO, US or month-name dates, with or without a time zone, to naive local timestamps."""
    codes, distinct = date_codes(raw, source, column)
    return pd.Series(distinct.to_numpy()[codes], index=raw.index)


def date_codes(raw: pd.Series, source: str, column: str) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """parse_dates as each row's code into the column's distinct texts and those texts parsed."""
    # Each distinct text is parsed once: a panel's long file repeats every date once per series (and
    # reads it as a category, whose codes serve as they are).
    if isinstance(raw.dtype, pd.CategoricalDtype):
        codes, distinct = raw.cat.codes.to_numpy(), raw.cat.categories
    else:
        codes, distinct = pd.factorize(raw)
    text = pd.Series(distinct, dtype=object).astype("string").str.strip()
    empty = np.append((text == "").fillna(True).to_numpy(dtype=bool), True)[codes]  # -1, missing: True
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        after = f" (after '{raw.iloc[row - 1]}')" if row else ""
        raise StockrnnError(f"{source}: column '{column}' has no date in data row {row + 1}{after}; "
                            "every row needs a date")
    text = text.str.replace(_TRAILING_OFFSET, r"\1", regex=True)
    rows_of = np.bincount(codes, minlength=len(text))  # how many rows each distinct text stands for
    best, best_rows = None, -1
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if parsed.notna().all():
            return codes, pd.DatetimeIndex(parsed)
        parsed_rows = int(rows_of[parsed.notna().to_numpy()].sum())
        if parsed_rows > best_rows:
            best, best_rows = parsed, parsed_rows
    row = int(np.flatnonzero(best.isna().to_numpy()[codes])[0])
    raise StockrnnError(
        f"{source}: column '{column}' has dates that do not parse (first: '{raw.iloc[row]}' in data "
        f"row {row + 1}); {_day_first_hint(text)}expected one format for the whole column: "
        f"{', '.join(DATE_FORMATS.values())}")


def _day_first_hint(text: pd.Series) -> str:
    """Why day-first files are refused, shown with the first date that cannot be month-first."""
    parts = text.str.extract(f"^{_DAY_FIRST}$")
    if parts.isna().any(axis=None):
        return ""
    day, month, year = parts[0].astype(int), parts[1].astype(int), parts[2]
    late = (day > 12) & (month <= 12)
    if not late.any():
        return ""
    row = int(np.flatnonzero(late.to_numpy())[0])
    full_year = year.iloc[row] if len(year.iloc[row]) == 4 else f"20{year.iloc[row]}"
    iso = f"{full_year}-{month.iloc[row]:02d}-{day.iloc[row]:02d}"
    return (f"the dates look day-first ({text.iloc[row]}); write ISO dates {iso} (a day-first "
            "01/02 could be read either way, so it is never guessed); ")


def read_price_csv(path: str | Path, date_column: str, sep: str | None = None,
                   decimal: str | None = None) -> pd.DataFrame:
    """Read a CSV of dated rows; returns it sorted by date, duplicate dates dropped, dates as index.
    sep and decimal: None detects them from the first lines."""
    path = Path(path).expanduser()
    return tidy_price_frame(read_csv_text(path, sep, decimal), source=str(path), date_column=date_column)


def read_csv_text(path: str | Path, sep: str | None = None, decimal: str | None = None,
                  text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV text file as read, every problem with the file itself one line naming it. sep and
    decimal: None detects them from the first lines. text_columns (matched without regard to case)
    stay text, as categories: a ticker keeps its leading zeros (0050), and a text that many rows
    repeat (a panel's series names and dates) is held once."""
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
        lines = head.decode(encoding, errors="replace").splitlines()[:-1] or [""]  # the last may be cut
        sep = sep or detect_separator(lines[0])
        decimal = decimal or detect_decimal(lines[1:], sep)
        log.info("%s: read with separator %r and decimal %r", path, sep, decimal)
        options = dict(encoding=encoding, encoding_errors="replace", sep=sep, decimal=decimal)
        dtype = {}
        if text_columns:
            header = pd.read_csv(path, nrows=0, **options).columns
            wanted = {str(name).casefold() for name in text_columns}
            dtype = {column: "str" for column in header if str(column).casefold() in wanted}
        with pd.read_csv(path, dtype=dtype or None, chunksize=CHUNK_ROWS, **options) as chunks:
            raw = _joined(chunks, set(dtype), path)
    except pd.errors.EmptyDataError:
        raise StockrnnError(f"data file is empty: {path} (expected a header row and dated rows)") from None
    except pd.errors.ParserError as err:
        detail = str(err).strip().replace("Error tokenizing data. C error: ", "")
        raise StockrnnError(f"{path} is not a well-formed CSV: {detail}") from None
    except OSError as err:
        raise StockrnnError(f"cannot read data file {path}: {err.strerror or err}") from None
    return _points_for_decimal_commas(raw, skip=dtype) if decimal == "," else raw


def _joined(chunks, categorical: set[str], path: Path) -> pd.DataFrame:
    """The chunks of a read as one frame, each column written into one array as the chunks come, so
    that the file's values are never held twice; the categorical columns made categories chunk by
    chunk, so that their text is never held for every row. A file of one chunk is as read."""
    first = next(chunks)  # a header alone gives one empty chunk
    second = next(chunks, None)
    if second is None:
        return first.assign(**{name: first[name].astype("category") for name in categorical})
    rows = _rows_at_most(path)
    columns = {name: _Column(rows, name in categorical) for name in first.columns}
    for chunk in (first, second):
        _add(columns, chunk)
    del first, second, chunk
    for chunk in chunks:
        _add(columns, chunk)
    return pd.DataFrame({name: column.joined() for name, column in columns.items()}, copy=False)


def _add(columns: dict[str, _Column], chunk: pd.DataFrame) -> None:
    for name, column in columns.items():
        column.add(chunk[name])


def _rows_at_most(path: Path) -> int:
    """More rows than the file can hold: its line ends (a newline, or a return alone), plus one."""
    ends = 1
    with path.open("rb") as file:
        while block := file.read(1 << 24):
            ends += block.count(b"\n") + block.count(b"\r")
    return ends


class _Column:
    """One column of a read, chunk after chunk: numbers go into one array sized for the whole file
    (its unused end never touched, so never resident) while every chunk has the same type; text, or a
    chunk of another type, keeps the chunks apart, for pandas to join with the types it would give
    a read in one go."""

    def __init__(self, rows: int, categorical: bool):
        self.rows, self.categorical = rows, categorical
        self.array: np.ndarray | None = None
        self.filled = 0
        self.pieces: list = []

    def add(self, values: pd.Series) -> None:
        stop = self.filled + len(values)
        if self.array is None and not self.pieces and values.dtype.kind in "biuf" and stop <= self.rows:
            self.array = np.empty(self.rows, dtype=values.dtype)
        if self.array is not None and values.dtype == self.array.dtype and stop <= self.rows:
            self.array[self.filled:stop] = values.to_numpy()
        else:
            if self.array is not None:
                self.pieces.append(pd.Series(self.array[:self.filled], copy=False))
                self.array = None
            # A copy of its own, so that the chunk's block of every column goes with the chunk.
            self.pieces.append(values.astype("category") if self.categorical else values.copy())
        self.filled = stop

    def joined(self) -> pd.Series:
        if self.array is not None:
            return pd.Series(self.array[:self.filled], copy=False)
        if self.categorical:
            return pd.Series(union_categoricals(self.pieces), copy=False)
        return pd.concat(self.pieces, ignore_index=True)


def detect_separator(header: str) -> str:
    """The separator the header line uses most, outside quotes; a comma when it has none."""
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {sep: unquoted.count(sep) for sep in SEPARATORS}
    best = max(counts, key=counts.get)
    return best if counts[best] > counts[","] else ","


def detect_decimal(rows: list[str], sep: str) -> str:
    """A comma, when the separator is another character and some field is a decimal-comma number."""
    if sep == ",":
        return "."
    fields = (field.strip().strip('"') for row in rows for field in row.split(sep))
    return "," if any(re.fullmatch(_COMMA_NUMBER, f) and "," in f for f in fields) else "."


def _points_for_decimal_commas(raw: pd.DataFrame, skip) -> pd.DataFrame:
    """Text columns of decimal-comma numbers with grouped thousands ("1.234,5"), which pandas
    leaves as text, rewritten as plain numbers; a column that does not fit the form stays text,
    and so do the columns to skip (read as text on purpose: a ticker 7203 is no number)."""
    for column in raw.columns:
        if column in skip or pd.api.types.is_numeric_dtype(raw[column]):
            continue
        text = raw[column].astype("string").str.strip()
        text = text.mask(text == "")
        if text.notna().any() and text.str.fullmatch(_COMMA_NUMBER).fillna(True).all():
            raw[column] = pd.to_numeric(text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    return raw


def _binary_kind(head: bytes) -> str | None:
    for magic, kind in _BINARY_MAGIC.items():
        if head.startswith(magic):
            return kind
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary data"
    return None


def file_column(columns, name: str, source: str) -> str | None:
    """The file's spelling of a wanted column: the name itself, else the one column that matches it
    without regard to case; None when none does. Two such spellings in the file ('high' and 'HIGH')
    are an error: which one was meant is not ours to guess."""
    if name in columns:
        return name
    matches = [column for column in columns if str(column).casefold() == str(name).casefold()]
    if len(matches) > 1:
        raise StockrnnError(f"{source}: no column '{name}', and {' and '.join(repr(m) for m in matches)} "
                            "both match it without regard to case; name one exactly in the config")
    return matches[0] if matches else None


def matched_by_case(frame: pd.DataFrame, wanted: list[str], source: str) -> pd.DataFrame:
    """The frame with each wanted column that the file spells in another case ('date' for 'Date')
    also under the wanted name (a copy, so that a config may name one column in two spellings,
    e.g. feature 'High' and target 'high'), said in one log line."""
    renames = {name: file_column(frame.columns, name, source) for name in wanted}
    renames = {name: column for name, column in renames.items() if column not in (None, name)}
    if not renames:
        return frame
    log.info("%s: matched columns without regard to case: %s", source,
             ", ".join(f"'{old}' as '{new}'" for new, old in renames.items()))
    return frame.assign(**{new: frame[old] for new, old in renames.items()})


def tidy_price_frame(raw: pd.DataFrame, source: str, date_column: str) -> pd.DataFrame:
    """Index by parsed date, sort, drop duplicate dates with a warning."""
    frame = dated_frame(raw, source, date_column)
    duplicated = frame.index.duplicated(keep="first")
    if duplicated.any():
        log.warning(
            "%s: dropped %d rows with a duplicate date (kept the first of each), e.g. %s",
            source, int(duplicated.sum()), frame.index[duplicated][0].date(),
        )
        frame = frame[~duplicated]
    return frame


def dated_frame(raw: pd.DataFrame, source: str, date_column: str) -> pd.DataFrame:
    """The rows indexed by their parsed date (named 'date') and sorted by it, in file order within
    a date; the date column must exist and every row have a date."""
    raw = matched_by_case(raw, [date_column], source)
    check_dated(raw, source, date_column)
    frame = raw.drop(columns=[date_column])
    frame.index = pd.DatetimeIndex(parse_dates(raw[date_column], source, date_column), name="date")
    return frame.sort_index(kind="stable")


def check_dated(raw: pd.DataFrame, source: str, date_column: str) -> None:
    """The date column is there, and some row."""
    if date_column not in raw.columns:
        hint = ""
        if len(raw.columns) == 1 and any(sep in str(raw.columns[0]) for sep in ";\t|"):
            hint = "; the header has a single column: set data.sep to the file's field separator"
        raise StockrnnError(
            f"{source}: no date column '{date_column}' (columns: {', '.join(map(str, raw.columns))}); "
            f"set data.date_column{hint}"
        )
    if raw.empty:
        raise StockrnnError(f"{source}: has a header but no rows")


def numeric_columns(frame: pd.DataFrame, columns: list[str], source: str,
                    fill: str | None = None) -> pd.DataFrame:
    """The requested columns as float64. Missing values are an error naming the column and first
    date, or with fill='ffill' take the previous day's value; text that is no number is an error."""
    frame = matched_by_case(frame, columns, source)
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
