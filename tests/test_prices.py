"""Reading CSVs: date formats, order, duplicates, and clear errors for bad files and columns."""

import logging

import pandas as pd
import pytest

from stockrnn.data.prices import load_embedded, numeric_columns, read_price_csv
from stockrnn.errors import StockrnnError


def write(tmp_path, text: str, name: str = "p.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("dates", [
    ["2021-03-12", "2021-03-15", "2021-03-16"],
    ["3/12/2021", "3/15/2021", "3/16/2021"],
    # Yahoo: one offset per row, changing with daylight saving; the local date is kept.
    ["2021-03-12 00:00:00-05:00", "2021-03-15 00:00:00-04:00", "2021-03-16 00:00:00-04:00"],
    ["2021-03-12T00:00:00Z", "2021-03-15T00:00:00Z", "2021-03-16T00:00:00Z"],
])
def test_dates_in_iso_us_and_time_zone_forms_parse_to_the_same_days(tmp_path, dates):
    path = write(tmp_path, "Date,High\n" + "\n".join(f"{d},{i}" for i, d in enumerate(dates)))
    frame = read_price_csv(path, "Date")
    assert list(frame.index) == list(pd.to_datetime(["2021-03-12", "2021-03-15", "2021-03-16"]))


def test_rows_are_sorted_and_duplicate_dates_dropped_with_a_warning(tmp_path, caplog):
    path = write(tmp_path, "Date,High\n2021-01-06,3\n2021-01-04,1\n2021-01-05,2\n2021-01-05,99\n")
    with caplog.at_level(logging.WARNING):
        frame = read_price_csv(path, "Date")
    assert frame["High"].tolist() == [1, 2, 3]
    assert "duplicate date" in caplog.text and "2021-01-05" in caplog.text


def test_text_numbers_with_thousands_separators_parse(tmp_path):
    path = write(tmp_path, 'Date,Volume\n2021-01-04,"1,234,567"\n2021-01-05,"2,000"\n')
    frame = numeric_columns(read_price_csv(path, "Date"), ["Volume"], "p.csv")
    assert frame["Volume"].tolist() == [1234567.0, 2000.0]


@pytest.mark.parametrize("content, message", [
    (None, "data file not found"),
    ("", "data file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xfe", "not a readable CSV"),
    ("Day,High\n2021-01-04,1\n", "no date column 'Date'"),
    ("Date,High\nyesterday,1\n2021-01-05,2\n", "dates that do not parse (first: 'yesterday')"),
])
def test_bad_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(StockrnnError, match="bad.csv") as err:
        read_price_csv(path, "Date")
    assert message in str(err.value)


def test_missing_column_lists_the_available_ones(tmp_path):
    frame = read_price_csv(write(tmp_path, "Date,Open,High\n2021-01-04,1,2\n"), "Date")
    with pytest.raises(StockrnnError, match=r"\['Close'\] not found; available: Open, High"):
        numeric_columns(frame, ["High", "Close"], "p.csv")


def test_missing_value_names_column_and_first_date(tmp_path):
    frame = read_price_csv(write(tmp_path, "Date,High\n2021-01-04,1\n2021-01-05,\n2021-01-06,x\n"), "Date")
    with pytest.raises(StockrnnError, match=r"'High' has 2 missing or non-numeric values \(first on 2021-01-05\)"):
        numeric_columns(frame, ["High"], "p.csv")


@pytest.mark.parametrize("name, first, last", [("msft", "1986-03-13", "2017-11-10"),
                                               ("sp500", "1999-01-04", "2018-12-31"),
                                               ("nasdaq", "1999-01-04", "2018-12-31")])
def test_embedded_series_load_offline_with_ohlc_columns(name, first, last):
    frame = load_embedded(name)
    assert {"Open", "High", "Low", "Close"} <= set(frame.columns)
    assert (str(frame.index[0].date()), str(frame.index[-1].date())) == (first, last)
    assert frame.index.is_monotonic_increasing and frame.index.is_unique


def test_unknown_embedded_series_lists_the_available_ones():
    with pytest.raises(StockrnnError, match="unknown embedded dataset 'ftse'; available: msft, sp500, nasdaq"):
        load_embedded("ftse")
