"""The run's two pictures: how the series was split, and what the model forecast on the test range."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # runs write files; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def data_split_figure(series: pd.Series, ranges: dict[str, tuple[pd.Timestamp, pd.Timestamp]],
                      target: str) -> Figure:
    """The target series with each split's date range shaded (like the tutorial's first plot)."""
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(series.index, series.to_numpy(), color="black", linewidth=0.8, label=target)
    colours = {"train": "tab:blue", "validation": "tab:orange", "test": "tab:green"}
    for name, (start, end) in ranges.items():
        ax.axvspan(start, end, alpha=0.2, color=colours.get(name), label=f"{name} {start.date()}..{end.date()}")
    ax.set_ylabel(target)
    ax.set_title(f"{target}: train, validation and test ranges")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def predictions_figure(table: pd.DataFrame, title: str) -> Figure:
    """Actual vs model vs persistence vs linear baseline over the test range (step 1 only)."""
    if "horizon" in table:
        table = table[table["horizon"] == 1]
    dates = pd.to_datetime(table["date"])
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(dates, table["actual"], color="black", linewidth=1.2, label="actual")
    ax.plot(dates, table["predicted"], color="tab:red", linewidth=1.0, label="predicted")
    ax.plot(dates, table["persistence"], color="tab:gray", linewidth=0.8, linestyle="--", label="persistence")
    ax.plot(dates, table["linear"], color="tab:blue", linewidth=0.8, linestyle=":", label="linear")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def save(fig: Figure, path) -> None:
    fig.savefig(path, dpi=110)
    plt.close(fig)
