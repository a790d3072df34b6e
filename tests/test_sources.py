"""Reading panels: a long CSV with a series column, a glob of CSVs, a wide CSV and the embedded panel;
names, order, columns and dates, and one clear line for each problem with the series."""

import importlib.util
import logging

import pandas as pd
import pytest

from stockrnn.data import prices
from stockrnn.data.sources import EMBEDDED_PANELS, PANEL_LAYOUTS, is_panel, read_panel
from stockrnn.errors import StockrnnError


def write(folder, text: str, name: str = "panel.csv"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def read(path=None, embedded=None, series_column=None, layout="long", series=None, target="Close",
         date_column="Date"):
    return read_panel(path=None if path is None else str(path), embedded=embedded, date_column=date_column,
                      sep=None, decimal=None, series_column=series_column, layout=layout, target=target,
                      series=series)


def dates(frame) -> list[str]:
    return [str(day.date()) for day in frame.index]


# The Kaggle "all stocks" layout: lower-case columns, the series column last, rows grouped by name.
KAGGLE = ("date,open,high,low,close,volume,Name\n"
          "2021-01-05,2,3,1,2.5,100,MSFT\n2021-01-04,1,2,0,1.5,100,MSFT\n"
          "2021-01-04,10,12,9,11,200,AAPL\n2021-01-05,11,13,10,12,200,AAPL\n"
          "2021-01-06,12,14,11,13,200,AAPL\n")


def test_a_long_csv_gives_a_frame_per_series_sorted_by_name_and_date(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        panel = read(write(tmp_path, KAGGLE), series_column="Name")
    assert list(panel) == ["AAPL", "MSFT"]
    assert list(panel["MSFT"].columns) == ["open", "high", "low", "close", "volume"]  # no date, no Name
    assert dates(panel["MSFT"]) == ["2021-01-04", "2021-01-05"]
    assert panel["MSFT"]["close"].tolist() == [1.5, 2.5]
    assert dates(panel["AAPL"]) == ["2021-01-04", "2021-01-05", "2021-01-06"]
    assert panel["AAPL"].index.name == "date" and isinstance(panel["AAPL"].index, pd.DatetimeIndex)
    assert "'date' as 'Date'" in caplog.text


def test_the_series_column_matches_without_regard_to_case_and_tickers_stay_text(tmp_path):
    path = write(tmp_path, "Date,Ticker,Close\n2021-01-04,0050,1\n2021-01-04, 7203 ,2\n"
                           "2021-01-05,0050,3\n")
    panel = read(path, series_column="ticker")
    assert list(panel) == ["0050", "7203"]  # the leading zero kept, the spaces around a name dropped
    assert list(panel["0050"].columns) == ["Close"] and panel["0050"]["Close"].tolist() == [1, 3]


@pytest.mark.parametrize("text, message", [
    ("Date,Close\n2021-01-04,1\n", "panel.csv: no series column 'Name' (columns: Date, Close); "
                                   "set data.series_column"),
    ("Date,Name,Close\n2021-01-04,A,1\n2021-01-05,,2\n",
     "panel.csv: column 'Name' has no series name in data row 2 (date 2021-01-05); every row needs one"),
    ("Date,Name,Close\n2021-01-04,A,1\n2021-01-05,B,2\n2021-01-04,A,3\n",
     "panel.csv: series 'A' has 2 rows dated 2021-01-04; expected one row per series and date"),
    ("Date,Name,Close\n2021-01-04,A,1\n2021-01-04,A,2\n2021-01-04,A,3\n2021-01-05,B,1\n2021-01-05,B,1\n",
     "series 'A' has 3 rows dated 2021-01-04 (2 such series and dates in all)"),
    ("Date,Name,Close\n2021-01-04,A,1\nnever,B,2\n",
     "column 'Date' has dates that do not parse (first: 'never' in data row 2)"),
])
def test_long_csv_problems_are_one_line_naming_the_column_series_and_date(tmp_path, text, message):
    with pytest.raises(StockrnnError) as err:
        read(write(tmp_path, text), series_column="Name")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("chunk_rows", [2, 1000])
def test_a_long_csv_in_any_order_and_read_in_chunks_gives_the_same_series(tmp_path, monkeypatch, chunk_rows):
    monkeypatch.setattr(prices, "CHUNK_ROWS", chunk_rows)
    rows = ["2021-01-04,A,1", "2021-01-05,A,2", "2021-01-04,B,10", "2021-01-05,B,20", "2021-01-06,B,30"]
    header = "Date,Name,Close\n"
    in_order = read(write(tmp_path, header + "\n".join(rows) + "\n", "sorted.csv"), series_column="Name")
    shuffled = read(write(tmp_path, header + "\n".join(rows[::-1]) + "\n", "shuffled.csv"),
                    series_column="Name")
    for panel in (in_order, shuffled):
        assert list(panel) == ["A", "B"] and panel["B"]["Close"].tolist() == [10, 20, 30]
        assert dates(panel["A"]) == ["2021-01-04", "2021-01-05"] and panel["A"].index.name == "date"
    only_b = read(write(tmp_path, header + "\n".join(rows[::-1]) + "\n", "one.csv"), series_column="Name",
                  series=["B"])
    assert list(only_b) == ["B"] and only_b["B"]["Close"].tolist() == [10, 20, 30]


def test_numeric_tickers_stay_names_in_a_decimal_comma_file(tmp_path):
    panel = read(write(tmp_path, "Date;Ticker;Close\n2021-01-04;0050;1,5\n2021-01-04;7203;2,5\n"),
                 series_column="Ticker")
    assert list(panel) == ["0050", "7203"] and panel["7203"]["Close"].tolist() == [2.5]


def test_a_glob_reads_a_series_per_file_named_by_its_stem(tmp_path):
    write(tmp_path / "prices", "Date,Close,Volume\n2021-01-05,2,9\n2021-01-04,1,9\n", "MSFT.csv")
    # Each file is read on its own: this one with its own separator and decimal comma.
    write(tmp_path / "prices", "Date;Close\n2021-01-04;1,5\n2021-01-05;2,5\n", "AAPL.csv")
    write(tmp_path / "prices", "not prices", "notes.txt")
    panel = read(tmp_path / "prices" / "*.csv")
    assert list(panel) == ["AAPL", "MSFT"]
    assert list(panel["MSFT"].columns) == ["Close", "Volume"]
    assert dates(panel["MSFT"]) == ["2021-01-04", "2021-01-05"]
    assert panel["AAPL"]["Close"].tolist() == [1.5, 2.5]


def test_a_glob_that_matches_nothing_or_twice_the_same_name_is_an_error(tmp_path):
    with pytest.raises(StockrnnError, match=r"data.path=.*/nothing/\*.csv matches no file"):
        read(tmp_path / "nothing" / "*.csv")
    first = write(tmp_path / "nyse", "Date,Close\n2021-01-04,1\n", "ABC.csv")
    second = write(tmp_path / "lse", "Date,Close\n2021-01-04,1\n", "ABC.csv")
    with pytest.raises(StockrnnError) as err:
        read(tmp_path / "*" / "*.csv")
    assert str(first) in str(err.value) and str(second) in str(err.value)
    assert "would both be series 'ABC'" in str(err.value)


WIDE = ("Date,MSFT,AAPL,NEWCO,GONE,EMPTY,BLANKS\n"
        "2021-01-04,1,10,,5,, \n2021-01-05,2,,,6,,7\n2021-01-06,3,12,20,,,8\n2021-01-07,4,13,21,,, \n")


def test_a_wide_csv_gives_a_target_column_per_series_trimmed_of_leading_and_trailing_gaps(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        panel = read(write(tmp_path, WIDE), layout="wide", target="Close")
    assert list(panel) == ["AAPL", "BLANKS", "GONE", "MSFT", "NEWCO"]
    assert all(list(frame.columns) == ["Close"] for frame in panel.values())
    assert dates(panel["NEWCO"]) == ["2021-01-06", "2021-01-07"]  # listed later
    assert dates(panel["GONE"]) == ["2021-01-04", "2021-01-05"]  # delisted
    assert dates(panel["BLANKS"]) == ["2021-01-05", "2021-01-06"]  # blank text is no value either
    assert panel["AAPL"]["Close"].isna().tolist() == [False, True, False, False]  # a gap inside stays
    assert "panel.csv: column 'EMPTY' has no value; left out of the panel" in caplog.text


def test_a_wide_csv_without_series_is_an_error(tmp_path):
    with pytest.raises(StockrnnError, match="no series columns beside the date column"):
        read(write(tmp_path, "Date\n2021-01-04\n"), layout="wide")
    with pytest.raises(StockrnnError, match="no column has a value"):
        read(write(tmp_path, "Date,A\n2021-01-04,\n"), layout="wide")


def test_a_series_lacking_dates_the_others_have_is_named_with_its_first_missing_date(tmp_path, caplog):
    rows = [f"2021-01-{day:02d},{name},1" for day in range(4, 9) for name in "ABC"
            if not (name == "B" and day in (5, 6))]
    rows += ["2021-01-11,C,1"]  # after A and B stopped: no one lacks it
    with caplog.at_level(logging.WARNING):
        panel = read(write(tmp_path, "Date,Name,Close\n" + "\n".join(rows) + "\n"), series_column="Name")
    assert len(panel["B"]) == 3
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "panel.csv: series 'B' lacks 2 dates" in warnings[0] and "(first: 2021-01-05)" in warnings[0]


def test_a_panel_of_one_series_warns_of_nothing(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        panel = read(write(tmp_path, "Date,Name,Close\n2021-01-04,A,1\n2021-01-08,A,2\n"),
                     series_column="Name")
    assert list(panel) == ["A"] and not caplog.records


def test_data_series_selects_by_exact_name_and_names_an_unknown_one(tmp_path):
    path = write(tmp_path, KAGGLE)
    assert list(read(path, series_column="Name", series=["MSFT"])) == ["MSFT"]
    assert list(read(path, series_column="Name", series=["MSFT", "AAPL"])) == ["AAPL", "MSFT"]  # sorted
    with pytest.raises(StockrnnError) as err:
        read(path, series_column="Name", series=["msft"])
    assert str(err.value).endswith("panel.csv: no series 'msft' in data.series (did you mean 'MSFT'? names "
                                   "are compared exactly); available: AAPL, MSFT")
    with pytest.raises(StockrnnError, match=r"data.series=\[\]: expected a list of series names"):
        read(path, series_column="Name", series=[])


def test_an_unknown_series_lists_some_of_the_many_available(tmp_path):
    for number in range(12):
        write(tmp_path / "p", "Date,Close\n2021-01-04,1\n", f"S{number:02d}.csv")
    with pytest.raises(StockrnnError) as err:
        read(tmp_path / "p" / "*.csv", series=["S00", "XYZ"])
    assert "no series 'XYZ'" in str(err.value) and "S00, S01" in str(err.value)
    assert str(err.value).endswith("S09, ... (12 in all)")


def test_a_single_csv_or_embedded_series_is_a_panel_of_one(tmp_path, prices_csv):
    assert not is_panel(str(prices_csv), None, None) and not is_panel(None, "msft", None)
    panel = read(prices_csv)
    assert list(panel) == ["prices"] and "High" in panel["prices"].columns


@pytest.mark.parametrize("path, embedded, series_column, layout, expected", [
    ("p.csv", None, None, "long", False), ("p.csv", None, "Name", "long", True),
    ("p.csv", None, None, "wide", True), ("prices/*.csv", None, None, "long", True),
    ("prices/[AB].csv", None, None, "long", True), (None, "sp500_stocks", None, "long", True),
    (None, "msft", None, "long", False), ("p.csv", "sp500_stocks", None, "long", False),
])
def test_is_panel(path, embedded, series_column, layout, expected):
    assert is_panel(path, embedded, series_column, layout) is expected
    assert layout in PANEL_LAYOUTS


@pytest.mark.parametrize("path, embedded, series_column, layout, message", [
    ("p/*.csv", None, "Name", "long", "a glob reads one series per file"),
    ("p.csv", None, "Name", "wide", "data.layout=wide has one column per series"),
    (None, "msft", None, "wide", "describe a CSV (data.path), not embedded dataset 'msft'"),
])
def test_layouts_that_contradict_each_other_are_an_error(tmp_path, path, embedded, series_column, layout,
                                                        message):
    if path == "p.csv":
        path = write(tmp_path, KAGGLE)
    with pytest.raises(StockrnnError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(path, embedded=embedded, series_column=series_column, layout=layout)


@pytest.mark.skipif(importlib.util.find_spec("skfolio") is None,
                    reason="skfolio (the panel extra) is not installed")
def test_the_embedded_panel_is_twenty_sp500_stocks_of_daily_prices():
    panel = read(embedded="sp500_stocks", target="Close")
    assert len(panel) == 20 and list(panel)[:3] == ["AAPL", "AMD", "BAC"] and "XOM" in panel
    for frame in panel.values():
        assert list(frame.columns) == ["Close"]
        assert frame.index.is_unique and frame.index.is_monotonic_increasing
        assert (dates(frame)[0], dates(frame)[-1]) == ("1990-01-02", "2022-12-28")
        assert frame["Close"].notna().all() and (frame["Close"] > 0).all()
    assert len(panel["MSFT"].loc["2021"]) == 252  # every trading day of 2021
    assert 220 < panel["MSFT"]["Close"].loc["2021-12-31"] < 340  # adjusted, near the close of 336
    assert list(read(embedded="sp500_stocks", series=["JPM", "AAPL"])) == ["AAPL", "JPM"]


def test_the_embedded_panel_without_its_package_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "skfolio" else real(name, *args))
    with pytest.raises(StockrnnError) as err:
        read(embedded="sp500_stocks")
    assert str(err.value) == ("embedded dataset 'sp500_stocks' ships with the skfolio package, which is not "
                              "installed: pip install 'stockrnn[panel]'")
    assert "sp500_stocks" in EMBEDDED_PANELS
