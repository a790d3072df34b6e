"""Input columns derived from the file's columns, from same-day and earlier values only.

A feature is a column name (`High`) or a derived one:
  `A/B`            A / B - 1 on the same day (e.g. `Close/High`: where the day closed below its high)
  `A.diff`         A today minus A the trading day before
  `A.log_return`   log(A today / A the trading day before)
Derived values are scale-free, so a model trained on one price range carries to another.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockrnn.errors import StockrnnError


def base_columns(feature: str) -> list[str]:
    """The file's columns a feature is computed from."""
    if "/" in feature:
        return feature.split("/", 1)
    for suffix in (".diff", ".log_return"):
        if feature.endswith(suffix):
            return [feature[: -len(suffix)]]
    return [feature]


def uses_previous_day(features: list[str]) -> bool:
    return any(f.endswith((".diff", ".log_return")) for f in features)


def add_derived(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """`frame` (the base columns) plus each derived feature; a lagged feature drops the first row."""
    derived = {}
    with np.errstate(divide="ignore", invalid="ignore"):  # check_finite names such values
        for feature in features:
            if feature in frame:
                continue
            if "/" in feature:
                a, b = base_columns(feature)
                derived[feature] = frame[a].to_numpy() / frame[b].to_numpy() - 1
            elif feature.endswith(".diff"):
                derived[feature] = frame[base_columns(feature)[0]].diff().to_numpy()
            else:
                derived[feature] = np.log(frame[base_columns(feature)[0]]).diff().to_numpy()
    if not derived:
        return frame
    out = pd.concat([frame, pd.DataFrame(derived, index=frame.index)], axis=1)
    return out.iloc[1:] if uses_previous_day(features) else out


def check_finite(rows: pd.DataFrame, features: list[str], source: str) -> None:
    """A derived value that is not a finite number (a ratio over a zero, the log return of a
    zero Volume) in the rows a run uses is an error naming the feature and its first such day:
    left in, it would turn the training loss into NaN, reported as a learning-rate problem."""
    for feature in features:
        bad = ~np.isfinite(rows[feature].to_numpy())
        if not bad.any():
            continue
        if feature.endswith(".log_return"):
            needs = f"'{base_columns(feature)[0]}' to be above 0 on that day and the day before"
        elif "/" in feature:
            needs = f"'{base_columns(feature)[1]}' to be non-zero"
        else:
            needs = f"finite values of '{base_columns(feature)[0]}'"
        raise StockrnnError(
            f"{source}: feature '{feature}' is not a finite number on {rows.index[bad][0].date()} "
            f"({bad.sum()} days of the run's dates); it needs {needs}. Choose other data.features "
            "or data dates")
