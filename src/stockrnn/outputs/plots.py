"""The pictures: how the series was split, what a run forecast on the test range, and how a
sweep's jobs compare."""

from __future__ import annotations

import io
from pathlib import Path

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


def predictions_figure(table: pd.DataFrame, title: str, series: str) -> Figure:
    """Actual vs model vs persistence vs linear baseline over the test range (step 1 only); with a
    distribution, its 50% and 90% bands shaded and GARCH's 90% band as lines.
    series names the y axis: the target and where it comes from ("High (prices.csv)")."""
    fig, ax = plt.subplots(figsize=(11, 4))
    draw_predictions(ax, table, title, series)
    # Outside the axes, to the right: inside, any corner hides some of the test range.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.autofmt_xdate()
    fig.tight_layout()  # makes room for the legend
    return fig


def draw_predictions(ax, table: pd.DataFrame, title: str, series: str) -> None:
    """predictions_figure's lines and bands on one axis."""
    if "horizon" in table:
        table = table[table["horizon"] == 1]
    dates = pd.to_datetime(table["date"])
    if "q0.05" in table:
        ax.fill_between(dates, table["q0.05"], table["q0.95"], color="tab:red", alpha=0.12, linewidth=0,
                        label="90% interval")
        ax.fill_between(dates, table["q0.25"], table["q0.75"], color="tab:red", alpha=0.25, linewidth=0,
                        label="50% interval")
        for bound in ("garch_lo90", "garch_hi90"):
            ax.plot(dates, table[bound], color="tab:purple", linewidth=0.7, linestyle="-.",
                    label="GARCH 90%" if bound == "garch_lo90" else None)
    ax.plot(dates, table["actual"], color="black", linewidth=1.2, label="actual")
    ax.plot(dates, table["predicted"], color="tab:red", linewidth=1.0, label="predicted")
    ax.plot(dates, table["persistence"], color="tab:gray", linewidth=0.8, linestyle="--", label="persistence")
    ax.plot(dates, table["linear"], color="tab:blue", linewidth=0.8, linestyle=":", label="linear")
    ax.set_title(title)
    ax.set_ylabel(series)


def shown_series(per_series: pd.DataFrame) -> dict[str, str]:
    """The best, the median and the worst series by test skill (fewer with fewer series), each with
    its place; with an even count the median is the lower of the middle two. NaN skill sorts last."""
    ranked = per_series.sort_values("skill", ascending=False, na_position="last", kind="stable")
    names = ranked["series"].tolist()
    shown = {}
    for place, position in (("best", 0), ("median", (len(names) - 1) // 2), ("worst", len(names) - 1)):
        shown.setdefault(names[position], place)
    return shown


def panel_predictions_figure(table: pd.DataFrame, per_series: pd.DataFrame, title: str,
                             series: str) -> Figure:
    """A panel's predictions.png: predictions_figure's axis for the best, the median and the worst
    series by test skill, one above the other, each titled with the series and its skill.
    table: predictions.csv (with its `series` column); per_series: per_series.csv."""
    shown = shown_series(per_series)
    skills = per_series.set_index("series")["skill"]
    fig, axes = plt.subplots(len(shown), 1, figsize=(11, 3.2 * len(shown) + 0.6), squeeze=False)
    for ax, (name, place) in zip(axes[:, 0], shown.items()):
        draw_predictions(ax, table[table["series"] == name], f"{place}: {name}, skill {skills[name]:+.3f}",
                         series)
        # Not autofmt_xdate: it hides the dates of all but the lowest axis, and series' dates may differ.
        ax.tick_params(axis="x", labelrotation=30)
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def backtest_figure(predictions: pd.DataFrame, folds: pd.DataFrame, title: str) -> Figure:
    """Top: the out-of-sample forecasts over the whole span (step 1), each fold's test start marked.
    Bottom: each fold's skill against persistence, the network's and the linear model's side by side."""
    if "horizon" in predictions:
        predictions = predictions[predictions["horizon"] == 1]
    dates = pd.to_datetime(predictions["date"])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), height_ratios=(3, 2))
    top.plot(dates, predictions["actual"], color="black", linewidth=1.0, label="actual")
    top.plot(dates, predictions["predicted"], color="tab:red", linewidth=0.8, label="predicted")
    top.plot(dates, predictions["linear"], color="tab:blue", linewidth=0.7, linestyle=":", label="linear")
    for start in pd.to_datetime(folds["test_start"]):
        top.axvline(start, color="tab:gray", linewidth=0.8, linestyle="--")
    top.set_title(title)
    top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    positions = range(len(folds))
    bottom.bar([p - 0.2 for p in positions], folds["skill"], width=0.4, color="tab:red", label="network")
    bottom.bar([p + 0.2 for p in positions], folds["linear_skill"], width=0.4, color="tab:blue", label="linear")
    bottom.axhline(0, color="black", linewidth=0.8)
    bottom.set_xticks(list(positions), [f"fold {n}\n{s[:7]}" for n, s in zip(folds["fold"], folds["test_start"])])
    bottom.set_ylabel("skill vs persistence")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def sweep_figure(jobs: pd.DataFrame, swept: list[str], title: str, metric: str = "val_rmse") -> Figure:
    """`metric` (validation RMSE, or a backtest's objective) of the finished jobs against one swept
    number (`data.n_steps` when swept),
    a line per value of one swept choice (`model`, else `model.cell`): each point is the mean over
    the jobs that share it (other swept values, seeds) with their std as a bar; small dots are jobs.
    Without a swept number the x axis is the job number (an Optuna study's history)."""
    ok = jobs[jobs["status"] == "ok"]
    keys = [k for k in swept if k != "seed"]
    numbers = [k for k in keys if pd.api.types.is_numeric_dtype(ok[k].dropna()) and ok[k].notna().any()]
    x = "data.n_steps" if "data.n_steps" in numbers else numbers[0] if numbers else "job"
    choices = [k for k in keys if k not in numbers]
    line = next((k for k in ("model", "model.cell") if k in choices), choices[0] if choices else None)
    fig, ax = plt.subplots(figsize=(9, 5))
    for name, part in ok.groupby(line, sort=True) if line else [(None, ok)]:
        stats = part.groupby(x)[metric].agg(["mean", "std"]).sort_index()
        label = f"{line}={name}" if line else metric
        bars = ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker="o", capsize=3,
                           label=label)
        ax.scatter(part[x], part[metric], s=10, alpha=0.35, color=bars[0].get_color())
    positive = ok[x][ok[x] > 0] if x != "job" and not ok.empty else pd.Series(dtype=float)
    if len(positive) == len(ok) and not ok.empty and positive.max() >= 20 * positive.min():
        ax.set_xscale("log")
    if ok.empty:
        ax.text(0.5, 0.5, "no job finished", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(loc="best")
    ax.set_xlabel(x)
    ax.set_ylabel("validation RMSE (price units)" if metric == "val_rmse" else
                  f"{metric} (validation RMSE / persistence's, or CRPS / climatology's)")
    ax.set_title(f"Sweep: {title}")
    fig.tight_layout()
    return fig


def save(fig: Figure, path) -> bytes:
    """Writes the figure to `path` as a PNG and closes it; returns the PNG, which is what TensorBoard
    is given too (see outputs/runs.add_png): the figure is drawn once."""
    png = io.BytesIO()
    fig.savefig(png, dpi=110, format="png")
    plt.close(fig)
    Path(path).write_bytes(png.getvalue())
    return png.getvalue()
