"""What a run prints when it ends (and writes to train.log): the test table against both baselines,
a distribution's intervals, the verdicts in words, a panel's line over its series, and a nudge when
the network loses to persistence on validation."""

from __future__ import annotations

import io
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from stockrnn.evaluation.significance import verdicts
from stockrnn.training.callbacks import run_log


def panel_summary(metrics: dict) -> str:
    """A panel's figures over its series in one line."""
    n = metrics["n_series"]
    return (f"{n} series: skill per series mean {metrics['skill_mean']:+.4f}, median "
            f"{metrics['skill_median']:+.4f}; beats persistence in {metrics['series_beating_persistence']} "
            f"and the linear model in {metrics['series_beating_linear']} of {n} series")


def print_results(metrics: dict, output_dir: Path, title: str | None = None) -> None:
    """The short table printed at the end of a run: model against both baselines, price units,
    and the significance tests in words."""
    table = Table(title=title or f"Test results ({metrics['n_test']} forecasts, price units)")
    for column in ("", "RMSE", "MAE", "MAPE %", "direction", "skill"):
        table.add_column(column, justify="right" if column else "left")
    for name, prefix, skill_key in (("model", "test", "skill"), ("persistence", "persistence", None),
                                    ("linear", "linear", "linear_skill")):
        table.add_row(name, f"{metrics[f'{prefix}_rmse']:.4f}", f"{metrics[f'{prefix}_mae']:.4f}",
                      f"{metrics[f'{prefix}_mape']:.3f}", f"{metrics[f'{prefix}_direction_acc']:.3f}",
                      f"{metrics[skill_key]:+.4f}" if skill_key else "0")
    tests = "; ".join(verdicts(metrics))
    # A panel: the table pools every series' targets; one line over the series beside it.
    panel = [panel_summary(metrics)] if "n_series" in metrics else []
    tables = [table] + ([interval_table(metrics)] if "test_crps" in metrics else [])
    for shown in tables:
        Console().print(shown)
    Console().print(tests, highlight=False)
    for line in panel:
        print(line)
    # Plain print (also the panel's line): rich would wrap a long path mid-name at the terminal's width.
    chosen_by = (f"val_crps {metrics['val_crps']:.4f} (objective {metrics['objective']:.4f}); "
                 if "val_crps" in metrics else
                 f"objective {metrics['objective']:.4f} (mean over {'folds and ' if 'folds' in metrics else ''}"
                 "series of val_rmse / persistence's); " if "n_series" in metrics else "")
    print(f"val_rmse {metrics['val_rmse']:.4f}; {chosen_by}run directory: {output_dir}", flush=True)
    combination = combination_line(metrics)
    if combination:
        print(combination, flush=True)
    nudge = losing_to_persistence(metrics)
    if nudge:
        print(nudge, flush=True)
    text = io.StringIO()
    for shown in tables:
        shown.box = box.ASCII
        Console(file=text, width=200, color_system=None).print(shown)
    run_log.info("test results:\n%s\n%s", text.getvalue().rstrip(),
                 "\n".join([tests, *panel, *filter(None, [combination, nudge])]))


def combination_line(metrics: dict) -> str | None:
    """model.combination=persistence: the weight on the network (the rest is persistence's) and the
    network's own val_rmse; None without a combination."""
    if "combination_weight" not in metrics:
        return None
    over = " (mean over series)" if "n_series" in metrics else ""
    return (f"combined with persistence: weight {metrics['combination_weight']:.3f} on the network{over}, fit "
            f"on validation; the network alone: val_rmse {metrics['network_val_rmse']:.4f}")


# The formulation that does not lose to persistence where the level one does (docs/results.md).
SCALE_FREE_HINT = ("try the scale-free formulation: data.transform=log_return with scale-free inputs, e.g. "
                   "data.features=[High.log_return,Open/High,Low/High,Close/High] (the target's log return, "
                   "intraday ratios where the file has Open/Low/Close), as conf/experiment/mastercard_best.yaml does")


def losing_to_persistence(metrics: dict) -> str | None:
    """One line when the network is worse than persistence on validation (the days that choose it,
    so no test figure is read), naming the likely fix; None when it is not. A panel's point forecast
    is judged by its objective, the mean over series of val_rmse / persistence's (the pooled RMSE
    follows the highest-priced series); any other run by val_rmse against persistence_val_rmse."""
    if "n_series" in metrics and "val_crps" not in metrics:
        if metrics["objective"] <= 1:
            return None
        shown = (f"objective {metrics['objective']:.4f} (mean over series of val_rmse / persistence's) is "
                 "above 1")
    else:
        if metrics["val_rmse"] <= metrics["persistence_val_rmse"]:
            return None
        shown = (f"val_rmse {metrics['val_rmse']:.4f} is worse than persistence's "
                 f"{metrics['persistence_val_rmse']:.4f}")
    return f"the network loses to persistence on validation: its {shown}; {SCALE_FREE_HINT}"


def interval_table(metrics: dict) -> Table:
    """A distribution run's test intervals beside the climatology and GARCH baselines'."""
    table = Table(title="Test intervals (price units; cover: share of actual values inside; IS: interval score)")
    for column in ("", "CRPS", "cover 50", "cover 80", "cover 90", "width 90", "IS 90"):
        table.add_column(column, justify="right" if column else "left", no_wrap=not column)
    for name, prefix in (("model", "test_"), ("climatology", "climatology_"), ("garch", "garch_")):
        table.add_row(name, f"{metrics[prefix + 'crps']:.3f}",
                      *(f"{metrics[prefix + f'coverage_{level}']:.3f}" for level in (50, 80, 90)),
                      f"{metrics[prefix + 'width_90']:.3f}", f"{metrics[prefix + 'interval_score_90']:.3f}")
    return table
