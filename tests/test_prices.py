"""Reading CSVs: date formats, order, duplicates, and clear errors for bad files and columns."""

import gzip
import logging
import zipfile

import pandas as pd
import pytest

from stockrnn.data import prices
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
    ["3/12/21", "3/15/21", "3/16/21"],
    ['"Mar 12, 2021"', '"Mar 15, 2021"', '"Mar 16, 2021"'],
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


def _zip_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("prices.csv", "Date,High\n2021-01-04,1\n")
    return buffer.getvalue()


@pytest.mark.parametrize("content, message", [
    (None, "data file not found"),
    ("", "data file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xfe", "is not a CSV text file: it looks like binary data"),
    (gzip.compress(b"Date,High\n2021-01-04,1\n"), "it looks like gzip-compressed"),
    (_zip_bytes(), "it looks like a zip archive (an Excel .xlsx?)"),
    ("Date,High\n2021-01-04,1\n2021-01-05,1,2\n", "is not a well-formed CSV: Expected 2 fields in line 3, saw 3"),
    ("Day,High\n2021-01-04,1\n", "no date column 'Date' (columns: Day, High); set data.date_column"),
    ("Date|High\n2021-01-04|1\n", "(columns: Date|High); set data.date_column; the header has a single "
                                  "column: set data.sep to the file's field separator"),
    ("Date,High\n", "has a header but no rows"),
    ("Date,High\nyesterday,1\n2021-01-05,2\n", "dates that do not parse (first: 'yesterday' in data row 1)"),
    # Day-first dates: 13/02 cannot be US, and reading 01/02 day-first instead would be a guess.
    ("Date,High\n01/02/2021,1\n13/02/2021,2\n", "dates that do not parse (first: '13/02/2021' in data row 2); "
     "the dates look day-first (13/02/2021); write ISO dates 2021-02-13"),
    ("Date;High\n30.12.2020;1\n31.12.2020;2\n", "the dates look day-first (30.12.2020); write ISO dates 2020-12-30"),
    ("Date,High\n2021-01-04,1\n,2\n", "column 'Date' has no date in data row 2 (after '2021-01-04')"),
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


@pytest.mark.parametrize("text, sep, decimal", [
    ("Date;High;Volume\n2021-01-04;1234,5;1.000\n2021-01-05;1.235,25;2.000\n", ";", ","),
    ('"Date";"High";"Volume"\n"2021-01-04";"1234,5";"1000"\n"2021-01-05";"1235,25";"2000"\n', ";", ","),
    ("Date\tHigh\tVolume\n2021-01-04\t1234.5\t1000\n2021-01-05\t1235.25\t2000\n", "\t", "."),
    ("Date;High;Volume\n2021-01-04;1234.5;1000\n2021-01-05;1235.25;2000\n", ";", "."),
])
def test_semicolon_and_tab_files_and_decimal_commas_are_detected_and_said(tmp_path, caplog, text, sep, decimal):
    path = write(tmp_path, text)
    with caplog.at_level(logging.INFO):
        frame = numeric_columns(read_price_csv(path, "Date"), ["High", "Volume"], "p.csv")
    assert frame["High"].tolist() == [1234.5, 1235.25] and frame["Volume"].tolist() == [1000, 2000]
    assert f"{path}: read with separator {sep!r} and decimal {decimal!r}" in caplog.text


def test_a_configured_separator_and_decimal_override_the_detection(tmp_path):
    path = write(tmp_path, "Date;High\n2021-01-04;1,5\n")
    with pytest.raises(StockrnnError, match="no date column 'Date' \\(columns: Date;High\\)"):
        read_price_csv(path, "Date", sep=",")
    with pytest.raises(StockrnnError, match="'High' holds '1,5' on 2021-01-04, not a number"):
        numeric_columns(read_price_csv(path, "Date", decimal="."), ["High"], "p.csv")
    assert read_price_csv(path, "Date", sep=";", decimal=",")["High"].tolist() == [1.5]


def test_a_semicolon_file_keeps_comma_grouped_text_rules_when_its_decimal_is_a_point(tmp_path):
    path = write(tmp_path, "Date;High\n2021-01-04;1,234.5\n2021-01-05;12.25\n")
    assert numeric_columns(read_price_csv(path, "Date"), ["High"], "p.csv")["High"].tolist() == [1234.5, 12.25]


def test_column_names_match_without_regard_to_case_when_one_fits(tmp_path, caplog):
    path = write(tmp_path, "date,open,high\n2021-01-04,1,2\n2021-01-05,3,4\n")
    with caplog.at_level(logging.INFO):
        frame = numeric_columns(read_price_csv(path, "Date"), ["High", "Open"], "p.csv")
    assert frame["High"].tolist() == [2, 4] and frame["Open"].tolist() == [1, 3]
    assert str(frame.index[0].date()) == "2021-01-04"
    assert "matched columns without regard to case: 'date' as 'Date'" in caplog.text
    assert "p.csv: matched columns without regard to case: 'high' as 'High', 'open' as 'Open'" in caplog.text


def test_a_config_may_name_one_column_in_two_spellings(tmp_path):
    """Feature `High` and target `high` of a file's `High`: both read it (once a rename dropped
    `High` and named a `high` column the file never had)."""
    path = write(tmp_path, "Date,High\n2021-01-04,1.5\n2021-01-05,2.5\n")
    frame = numeric_columns(read_price_csv(path, "Date"), ["High", "high"], "p.csv")
    assert frame["High"].tolist() == frame["high"].tolist() == [1.5, 2.5]


def test_two_spellings_of_a_column_keep_the_exact_name_required(tmp_path, caplog):
    frame = read_price_csv(write(tmp_path, "Date,High,HIGH\n2021-01-04,1,2\n"), "Date")
    assert numeric_columns(frame, ["High"], "p.csv")["High"].tolist() == [1]  # the exact name wins
    with pytest.raises(StockrnnError) as err:
        numeric_columns(frame, ["high"], "p.csv")
    assert str(err.value) == ("p.csv: no column 'high', and 'High' and 'HIGH' both match it without regard "
                              "to case; name one exactly in the config")


def test_a_directory_is_not_a_data_file(tmp_path):
    with pytest.raises(StockrnnError, match="is a directory; expected a CSV file"):
        read_price_csv(tmp_path, "Date")


def test_utf16_files_and_stray_latin1_text_still_read(tmp_path):
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("Date,High\n2021-01-04,1.5\n2021-01-05,2.5\n".encode("utf-16"))
    assert read_price_csv(utf16, "Date")["High"].tolist() == [1.5, 2.5]
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("Date,High,Note\n2021-01-04,1.5,caf\xe9\n".encode("latin-1"))
    assert read_price_csv(latin1, "Date")["High"].tolist() == [1.5]


def test_missing_column_lists_the_available_ones(tmp_path):
    frame = read_price_csv(write(tmp_path, "Date,Open,High\n2021-01-04,1,2\n"), "Date")
    with pytest.raises(StockrnnError, match=r"\['Close'\] not found; available: Open, High"):
        numeric_columns(frame, ["High", "Close"], "p.csv")


@pytest.mark.parametrize("missing", ["", "NaN", "null", "nan", "  "])
def test_missing_value_names_column_and_first_date(tmp_path, missing):
    frame = read_price_csv(write(tmp_path, f"Date,High\n2021-01-04,1\n2021-01-05,{missing}\n2021-01-06,3\n"
                                           f"2021-01-07,{missing}\n"), "Date")
    with pytest.raises(StockrnnError) as err:
        numeric_columns(frame, ["High"], "p.csv")
    assert str(err.value) == ("p.csv: column 'High' has 2 missing values (first on 2021-01-05); "
                              "set data.fill=ffill to carry the previous day's value forward")


def test_ffill_carries_the_previous_value_and_says_how_many(tmp_path, caplog):
    frame = read_price_csv(write(tmp_path, "Date,High,Low\n2021-01-04,1,0\n2021-01-05,,0\n2021-01-06,null,0\n"
                                           "2021-01-07,4,0\n2021-01-08,NaN,0\n"), "Date")
    with caplog.at_level(logging.WARNING):
        filled = numeric_columns(frame, ["High", "Low"], "p.csv", fill="ffill")
    assert filled["High"].tolist() == [1, 1, 1, 4, 4] and filled["Low"].tolist() == [0] * 5
    assert "filled 3 missing values of column 'High'" in caplog.text and "first on 2021-01-05" in caplog.text
    assert "'Low'" not in caplog.text  # nothing to fill there, nothing said


def test_ffill_cannot_fill_a_leading_gap(tmp_path):
    frame = read_price_csv(write(tmp_path, "Date,High\n2021-01-04,\n2021-01-05,2\n"), "Date")
    with pytest.raises(StockrnnError, match=r"'High' starts with missing values \(first on 2021-01-04\); "
                                            "data.fill=ffill needs an earlier value"):
        numeric_columns(frame, ["High"], "p.csv", fill="ffill")


@pytest.mark.parametrize("cells, expected", [
    (['"1,234.5"', '"12.25"'], [1234.5, 12.25]),  # a decimal point shows the comma groups thousands
    (['"1,234,567"', '"2,000"'], [1234567.0, 2000.0]),  # two groups: thousands
    (['" 17.5 "', '"-3"'], [17.5, -3.0]),  # text numbers with spaces
    (['"1e3"', '".5"'], [1000.0, 0.5]),
])
def test_text_numbers_parse_when_unambiguous(tmp_path, cells, expected):
    frame = read_price_csv(write(tmp_path, "Date,High\n2021-01-04,{}\n2021-01-05,{}\n".format(*cells)), "Date")
    assert numeric_columns(frame, ["High"], "p.csv")["High"].tolist() == expected


@pytest.mark.parametrize("cells, message", [
    (['"1,5"', '"2,25"'], "'High' holds '1,5' on 2021-01-04, not a number"),  # decimal commas
    (['"1.234,5"', '"7"'], "'High' holds '1.234,5' on 2021-01-04, not a number"),
    (['"1,234"', '"5,678"'], "'High' writes numbers like '1,234', which could mean a thousand or a decimal comma"),
    (['12', '"12 USD"'], "'High' holds '12 USD' on 2021-01-05, not a number"),
    (['12', 'inf'], "'High' holds an infinite value on 2021-01-05; expected finite numbers"),
    (['12', '1e400'], "'High' holds an infinite value on 2021-01-05"),
])
def test_ambiguous_or_non_numbers_are_an_error_naming_the_column(tmp_path, cells, message):
    frame = read_price_csv(write(tmp_path, "Date,High\n2021-01-04,{}\n2021-01-05,{}\n".format(*cells)), "Date")
    with pytest.raises(StockrnnError) as err:
        numeric_columns(frame, ["High"], "p.csv", fill="ffill")  # fill never turns a bad number into a gap
    assert message in str(err.value)


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


def test_a_file_read_in_chunks_is_the_file_read_in_one_go(tmp_path, monkeypatch):
    # Chunks disagree on a column's type (whole numbers, then a decimal, then text): the joined
    # column takes the type a read in one go gives, and the values stay as written.
    path = write(tmp_path, "Date,High,Volume,Note\n2021-01-04,1,10,a\n2021-01-05,2,11,b\n"
                           "2021-01-06,3.5,12,c\n2021-01-07,4,13,d\n2021-01-08,5,n/a,e\n")
    whole = read_price_csv(path, "Date")
    monkeypatch.setattr(prices, "CHUNK_ROWS", 2)
    chunked = read_price_csv(path, "Date")
    assert chunked["High"].dtype == "float64" and chunked["High"].tolist() == [1, 2, 3.5, 4, 5]
    assert chunked["Note"].tolist() == whole["Note"].tolist() == list("abcde")
    assert numeric_columns(chunked, ["High", "Volume"], "p.csv", fill="ffill")["Volume"].tolist() == \
        [10, 11, 12, 13, 13]
    assert chunked.index.equals(whole.index)
