# TEMPORARY local stub (not committed): replaced by the helper's module.
import pandas as pd
from stockrnn.data.prices import tidy_price_frame
def is_panel(path, embedded, series_column, layout="long"):
    return bool(series_column) or layout == "wide" or (path is not None and any(c in str(path) for c in "*?["))
def read_panel(path, embedded, date_column, sep, decimal, series_column, layout, target, series):
    raw = pd.read_csv(path)
    out = {}
    for name, rows in raw.groupby(series_column, sort=True):
        out[str(name)] = tidy_price_frame(rows.drop(columns=series_column), str(path), date_column)
    if series is not None:
        out = {k: out[k] for k in series}
    return out
