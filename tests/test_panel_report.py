"""A panel's per-series figures (per_series.csv), its metrics.json keys, and where they show: predictions.png,
TensorBoard's text and scalars, the printed results; checked against numpy on predictions.csv's rows."""

import json

import numpy as np
import pandas as pd
import pytest
import scoringrules as sr
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.image import imread
from scipy import stats
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from stockrnn.evaluation.evaluate import Evaluation, split_report
from stockrnn.evaluation.forecasts import Forecasts
from stockrnn.evaluation.interval_scores import LEVELS
from stockrnn.evaluation.per_series import panel_metrics, per_series_table
from stockrnn.outputs.plots import panel_predictions_figure
from stockrnn.outputs.console import print_results
from stockrnn.outputs.runs import write_results

# name -> price level; out of alphabetical order on purpose.
SERIES = {"MID": 100.0, "GOOD": 10.0, "BAD": 1000.0}
# name -> (the share of the coming move the "network" knows, its noise in daily steps)
NETWORK = {"GOOD": (1.0, 0.2), "MID": (0.3, 0.5), "BAD": (0.0, 1.0)}


def series_forecasts(name: str, level: float, windows: int, horizon: int, start: str, rng,
                     quantiles: bool) -> Forecasts:
    """One series' windows: a random walk of daily steps 1% of `level`; GOOD's network sees the
    future up to a little noise, BAD's is persistence plus much noise, MID's lies between."""
    step = 0.01 * level
    prices = level + np.cumsum(rng.normal(0, step, windows + horizon))
    dates = pd.bdate_range(start, periods=windows + horizon).to_numpy()
    rows = np.arange(windows)[:, None] + np.arange(1, horizon + 1)
    actual, last_known = prices[rows], prices[:windows]
    persistence = np.repeat(last_known[:, None], horizon, axis=1)
    known, noise = NETWORK[name]
    predicted = persistence + known * (actual - persistence) + rng.normal(0, noise * step, actual.shape)
    linear = persistence + rng.normal(0, 0.8 * step, actual.shape)
    local_linear = persistence + 0.2 * (actual - persistence) + rng.normal(0, 0.7 * step, actual.shape)
    extra = {}
    if quantiles:
        z = stats.norm.ppf(LEVELS)
        extra = {"levels": LEVELS, "quantiles": predicted[..., None] + 1.5 * step * z,
                 "baselines": {"climatology": persistence[..., None] + 3 * step * z,
                               "garch": persistence[..., None] + 1.2 * step * z}}
    return Forecasts(dates[rows], actual, predicted, linear, last_known, series=np.full(windows, name),
                     local_linear=local_linear, **extra)


def panel(horizon: int = 1, quantiles: bool = False) -> tuple[Forecasts, Forecasts]:
    """Validation and test forecasts of SERIES, pooled as a panel evaluation gives them."""
    rng = np.random.default_rng(0)
    splits = [Forecasts.concat([series_forecasts(name, level, windows, horizon, start, rng, quantiles)
                                for name, level in SERIES.items()])
              for windows, start in ((40, "2020-01-01"), (60, "2021-01-01"))]
    return splits[0], splits[1]


def rmse(error) -> float:
    return float(np.sqrt(np.mean(np.square(error))))


def by_hand(table: pd.DataFrame, horizon: int) -> dict:
    """One series' figures from its rows of predictions.csv, written out with numpy."""
    actual = table["actual"].to_numpy()
    figures = {name: rmse(table[name].to_numpy() - actual)
               for name in ("predicted", "persistence", "linear", "local_linear")}
    return {"n_test": len(table) // horizon, "rmse": figures["predicted"],
            "mae": float(np.mean(np.abs(table["predicted"].to_numpy() - actual))),
            "persistence_rmse": figures["persistence"], "linear_rmse": figures["linear"],
            "local_linear_rmse": figures["local_linear"],
            "skill": 1 - figures["predicted"] / figures["persistence"],
            "linear_skill": 1 - figures["linear"] / figures["persistence"],
            "local_linear_skill": 1 - figures["local_linear"] / figures["persistence"]}


def val_by_hand(table: pd.DataFrame) -> dict:
    val_rmse, persistence = (rmse(table[name] - table["actual"]) for name in ("predicted", "persistence"))
    return {"val_rmse": val_rmse, "persistence_val_rmse": persistence,
            "val_skill": 1 - val_rmse / persistence}


def panel_evaluation(val: Forecasts, test: Forecasts) -> Evaluation:
    per_series = per_series_table(val, test)
    metrics = split_report(val, test) | {"linear_lags": 3} | panel_metrics(per_series, test)
    return Evaluation(metrics, val, test, per_series)


@pytest.mark.parametrize("horizon", [1, 3])
def test_per_series_csv_agrees_with_numpy_on_each_series_rows_of_the_predictions(tmp_path, horizon):
    val, test = panel(horizon)
    evaluation = panel_evaluation(val, test)
    write_results(evaluation, tmp_path, [], {}, step=0, title="lstm on Close", series="Close (panel)")
    written = pd.read_csv(tmp_path / "per_series.csv")
    assert written["series"].tolist() == ["MID", "GOOD", "BAD"]  # as they first appear
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert {"series", "local_linear"} <= set(predictions.columns)
    val_predictions = evaluation.val_predictions
    for row in written.itertuples(index=False):
        expected = (by_hand(predictions[predictions["series"] == row.series], horizon)
                    | val_by_hand(val_predictions[val_predictions["series"] == row.series]))
        for key, value in expected.items():
            # predictions.csv and per_series.csv hold 6 decimals; prices here reach 1000
            assert getattr(row, key) == pytest.approx(value, rel=1e-6, abs=2e-6), (row.series, key)


def test_a_series_row_is_what_a_lone_run_of_that_series_reports():
    val, test = panel(horizon=2)
    row = per_series_table(val, test).set_index("series").loc["MID"]
    # The series on its own, built without the panel's selection: as a one-series run evaluates it.
    lone_val, lone_test = (Forecasts(*(getattr(split, name)[split.series == "MID"]
                                       for name in ("dates", "actual", "predicted", "linear", "last_known")))
                           for split in (val, test))
    lone = split_report(lone_val, lone_test)
    same = ("pt_pvalue", "dm_pvalue_persistence", "dm_pvalue_linear", "linear_val_rmse", "n_test")
    for column, key in (("rmse", "test_rmse"), ("direction_acc", "test_direction_acc"),
                        *((name, name) for name in same)):
        assert row[column] == pytest.approx(lone[key], rel=1e-12), column


def test_panel_metrics_pool_every_target_and_summarize_the_series():
    val, test = panel()
    evaluation = panel_evaluation(val, test)
    metrics, table, val_table = evaluation.metrics, evaluation.predictions, evaluation.val_predictions
    actual = table["actual"].to_numpy()
    # The contract's keys pool every series' targets.
    assert metrics["test_rmse"] == pytest.approx(rmse(table["predicted"] - actual), rel=1e-12)
    assert metrics["persistence_rmse"] == pytest.approx(rmse(table["persistence"] - actual), rel=1e-12)
    assert metrics["linear_rmse"] == pytest.approx(rmse(table["linear"] - actual), rel=1e-12)
    assert metrics["n_test"] == 180
    # The local linear model's, as linear_* are the global one's.
    local = table["local_linear"].to_numpy()
    assert metrics["local_linear_rmse"] == pytest.approx(rmse(local - actual), rel=1e-12)
    assert metrics["local_linear_mae"] == pytest.approx(np.mean(np.abs(local - actual)), rel=1e-12)
    assert metrics["local_linear_mape"] == pytest.approx(100 * np.mean(np.abs(local - actual) / actual),
                                                         rel=1e-12)
    moves = np.sign(local - table["persistence"]) == np.sign(actual - table["persistence"])
    assert metrics["local_linear_direction_acc"] == pytest.approx(moves.mean(), rel=1e-12)
    assert metrics["local_linear_skill"] == pytest.approx(
        1 - rmse(local - actual) / rmse(table["persistence"] - actual), rel=1e-12)
    # Over the series: each series' own skill and validation ratio.
    skills, ratios, beats_linear = [], [], 0
    for name in SERIES:
        rows, val_rows = table[table["series"] == name], val_table[val_table["series"] == name]
        figures, val_figures = by_hand(rows, 1), val_by_hand(val_rows)
        skills.append(figures["skill"])
        ratios.append(val_figures["val_rmse"] / val_figures["persistence_val_rmse"])
        beats_linear += figures["rmse"] < figures["linear_rmse"]
    assert metrics["n_series"] == 3
    assert metrics["skill_mean"] == pytest.approx(np.mean(skills), rel=1e-12)
    assert metrics["skill_median"] == pytest.approx(np.median(skills), rel=1e-12)
    assert metrics["series_beating_persistence"] == sum(skill > 0 for skill in skills) == 2  # GOOD and MID
    assert metrics["series_beating_linear"] == beats_linear
    assert metrics["objective"] == pytest.approx(np.mean(ratios), rel=1e-12)
    good, bad = (evaluation.per_series.set_index("series").loc[name] for name in ("GOOD", "BAD"))
    assert good["skill"] > 0.5 and good["dm_pvalue_persistence"] < 0.01 and good["dm_pvalue_linear"] < 0.01
    assert bad["skill"] < -0.2 and bad["dm_pvalue_persistence"] > 0.99
    # Scale-free: the pooled skill is BAD's (prices near 1000), the mean over series is not.
    assert metrics["skill"] < 0 < metrics["skill_mean"]


def test_with_a_distribution_each_series_has_its_crps_and_the_objective_is_the_mean_crps_ratio():
    val, test = panel(quantiles=True)
    per_series = per_series_table(val, test)
    metrics = panel_metrics(per_series, test)
    table = test.table()
    quantile_columns = [f"q{level:g}" for level in LEVELS]
    for row in per_series.itertuples(index=False):
        rows = table[table["series"] == row.series]
        crps = sr.crps_quantile(rows["actual"].to_numpy(), rows[quantile_columns].to_numpy(),
                                np.array(LEVELS), backend="numpy")
        assert row.crps == pytest.approx(np.mean(crps), rel=1e-9)
        inside = (rows["q0.05"] <= rows["actual"]) & (rows["actual"] <= rows["q0.95"])
        assert row.coverage_90 == pytest.approx(inside.mean())
        assert row.crps_skill_garch == pytest.approx(1 - row.crps / row.garch_crps)
        assert {"climatology_crps", "val_crps", "climatology_val_crps"} <= set(per_series.columns)
    ratios = per_series["val_crps"] / per_series["climatology_val_crps"]
    assert metrics["objective"] == pytest.approx(np.mean(ratios))


def test_the_panel_figure_shows_the_best_median_and_worst_series_by_skill():
    val, test = panel()
    per_series = per_series_table(val, test)
    skill = per_series.set_index("series")["skill"]
    fig = panel_predictions_figure(test.table(), per_series, "t", "Close (panel)")
    assert [ax.get_title() for ax in fig.axes] == [f"{place}: {name}, skill {skill[name]:+.3f}"
                                                  for place, name in (("best", "GOOD"), ("median", "MID"),
                                                                      ("worst", "BAD"))]
    for ax, name in zip(fig.axes, ("GOOD", "MID", "BAD")):
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels == ["actual", "predicted", "persistence", "linear"]
        np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), test.of_series(name).actual[:, 0])
    # Two series: best and worst only; one: that one.
    for kept, places in ((["GOOD", "BAD"], ["best", "worst"]), (["MID"], ["best"])):
        fig = panel_predictions_figure(test.table(), per_series[per_series["series"].isin(kept)], "t", "")
        assert [ax.get_title().split(":")[0] for ax in fig.axes] == places


def test_a_panel_run_writes_per_series_csv_its_figure_and_the_tensorboard_text(tmp_path):
    val, test = panel()
    evaluation = panel_evaluation(val, test)
    logger = TensorBoardLogger(str(tmp_path), name="tensorboard", version="", default_hp_metric=False)
    write_results(evaluation, tmp_path, [logger], {"model": {"cell": "lstm"}}, step=4, title="lstm on Close",
                  series="Close (panel)")
    assert json.loads((tmp_path / "metrics.json").read_text())["n_series"] == 3
    assert len(pd.read_csv(tmp_path / "per_series.csv")) == 3
    height, width, _ = imread(tmp_path / "predictions.png").shape
    assert height > width / 2  # three axes one above the other, not the single series' wide strip
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    text = events.Tensors("per_series/text_summary")[0].tensor_proto.string_val[0].decode()
    lines = text.splitlines()
    assert lines[0].startswith("| series | n_test | rmse |") and len(lines) == 2 + 3
    assert lines[2].startswith("| MID | 60 | ")
    scalars = set(events.Tags()["scalars"])
    assert {"panel/skill_mean", "panel/skill_median", "panel/series_beating_persistence",
            "panel/series_beating_linear", "panel/n_series", "test/local_linear_rmse", "test/rmse",
            "hp/skill_mean", "hp/objective"} <= scalars
    [skill_mean] = events.Scalars("panel/skill_mean")
    assert skill_mean.step == 4
    assert skill_mean.value == pytest.approx(evaluation.metrics["skill_mean"], rel=1e-6)


def test_a_single_series_run_writes_no_per_series_table(tmp_path):
    val, test = panel()
    one = [split.of_series("GOOD") for split in (val, test)]
    evaluation = Evaluation(split_report(*one) | {"linear_lags": 3}, *one)
    write_results(evaluation, tmp_path, [], {}, step=0, title="lstm on Close", series="Close")
    assert not (tmp_path / "per_series.csv").exists() and (tmp_path / "predictions.png").is_file()


def test_a_panels_printout_has_one_line_over_its_series(tmp_path, capsys):
    metrics = panel_evaluation(*panel()).metrics
    print_results(metrics, tmp_path)
    printed = capsys.readouterr().out
    assert (f"3 series: skill per series mean {metrics['skill_mean']:+.4f}, median "
            f"{metrics['skill_median']:+.4f}; beats persistence in 2 and the linear model in "
            f"{metrics['series_beating_linear']} of 3 series\n") in printed
    print_results({key: value for key, value in metrics.items() if key != "n_series"}, tmp_path)
    assert "series" not in capsys.readouterr().out


def six_forecasts(series: str) -> Forecasts:
    """Six one-step forecasts of consecutive days, window k's actual value k, of the series named
    by the letters of `series` (one per window)."""
    dates = pd.bdate_range("2021-01-01", periods=6).to_numpy()[:, None]
    values = np.arange(6.0)[:, None]
    return Forecasts(dates, values, values + 1, values + 2, values[:, 0], series=np.array(list(series)),
                     local_linear=values + 3)


def test_grouping_by_series_once_gives_each_series_windows_in_their_order():
    interleaved = six_forecasts("ABABCA")
    parts = interleaved.by_series()
    assert list(parts) == ["A", "B", "C"]
    for name, part in parts.items():
        expected = interleaved.of_series(name)
        np.testing.assert_array_equal(part.actual, expected.actual)
        np.testing.assert_array_equal(part.dates, expected.dates)
        np.testing.assert_array_equal(part.local_linear, expected.local_linear)
    np.testing.assert_array_equal(parts["A"].actual[:, 0], [0, 2, 5])


def test_series_laid_one_after_another_are_grouped_as_views_of_the_pooled_arrays():
    """A panel pools its series one after another: each series' forecasts are then slices of the pooled
    arrays, not copies (a large panel's evaluation would otherwise hold its forecasts twice)."""
    pooled = six_forecasts("AAABBC")
    parts = pooled.by_series()
    assert list(parts) == ["A", "B", "C"]
    np.testing.assert_array_equal(parts["B"].actual[:, 0], [3, 4])
    np.testing.assert_array_equal(parts["B"].local_linear[:, 0], [6, 7])
    for part in parts.values():
        assert np.shares_memory(part.actual, pooled.actual) and np.shares_memory(part.dates, pooled.dates)


@pytest.mark.parametrize("panel_run", [False, True])
def test_the_printout_says_in_one_line_when_the_network_loses_to_persistence_on_validation(tmp_path, capsys,
                                                                                             panel_run):
    val, test = panel()
    if panel_run:
        metrics = panel_evaluation(val, test).metrics
    else:
        one = [split.of_series("GOOD") for split in (val, test)]
        metrics = split_report(*one) | {"linear_lags": 3}
    persistence = metrics["persistence_val_rmse"]
    # A panel's point forecast is judged by its objective (val_rmse / persistence's, mean over
    # series), a lone series by val_rmse: each set just above and just below persistence.
    losing = metrics | ({"objective": 1.01} if panel_run else {"val_rmse": persistence * 1.01})
    winning = metrics | ({"objective": 0.99} if panel_run else {"val_rmse": persistence * 0.99})
    print_results(losing, tmp_path)
    lines = [line for line in capsys.readouterr().out.splitlines() if "loses to persistence" in line]
    shown = ("objective 1.0100 (mean over series of val_rmse / persistence's) is above 1" if panel_run else
             f"val_rmse {persistence * 1.01:.4f} is worse than persistence's {persistence:.4f}")
    assert lines == [f"the network loses to persistence on validation: its {shown}; try the scale-free formulation: "
                     "data.transform=log_return with scale-free inputs, e.g. "
                     "data.features=[High.log_return,Open/High,Low/High,Close/High] (the target's log return, "
                     "intraday ratios where the file has Open/Low/Close), as conf/experiment/mastercard_best.yaml does"]
    print_results(winning, tmp_path)
    assert "loses to persistence" not in capsys.readouterr().out
