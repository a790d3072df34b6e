"""The benchmark script's rows keep their contract fields (the figures themselves are not tested:
timings belong to benchmarks, never to tests)."""

import json
import subprocess
import sys

import pytest

from stockrnn.utils.threads import available_cores

from conftest import REPO_ROOT

ROWS = ("speed", "heads", "windowing", "panel", "linear", "distribution", "busy", "sweep", "backtest")


def run_rows(tmp_path, row: str, *options: str) -> list[dict]:
    """The rows the benchmark writes when it runs only `row`, with these options."""
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, str(REPO_ROOT / "scripts/benchmark.py"), "--skip",
                    *(other for other in ROWS if other != row), *options, "--out", str(out)],
                   capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.read_text())


def test_windowing_row_counts_every_window_of_the_three_splits():
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts/benchmark.py"), "--windowing-child",
                             "20000", "8"], capture_output=True, text=True, check=True, timeout=120)
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"name", "points", "n_steps", "seconds", "peak_mb", "series_mb"} <= set(row)
    assert row["name"] == "windowing" and row["points"] == 20000 and row["n_steps"] == 8
    # train+val windows: every training row but the first n_steps; test: every test row
    assert row["windows"] == 20000 - 8


def test_speed_row_compares_the_project_fit_with_a_plain_loop(tmp_path):
    (row,) = run_rows(tmp_path, "speed", "--settings", "tutorial", "--models", "gru", "--epochs", "2",
                      "--rounds", "1")
    assert row["name"] == "speed/tutorial/gru" and row["epochs"] == 2
    assert row["project_s_per_epoch"] > 0 and row["plain_s_per_epoch"] > 0
    assert row["ratio"] == pytest.approx(row["project_s_per_epoch"] / row["plain_s_per_epoch"], rel=0.02)
    # Whole fits: Trainer.fit's wall time, more than the epochs FitTimer counts (the sanity check,
    # the checkpoints), one ratio per round.
    assert row["fit_s_per_epoch"] > row["project_s_per_epoch"] and len(row["fit_ratios"]) == 1 and row["fit_ratio"] == row["fit_ratios"][0]
    assert row["fit_ratio"] > 0 and row["target_ratio"] == 1.15


def test_linear_rows_time_the_baseline_on_the_best_experiments_inputs(tmp_path):
    rows = run_rows(tmp_path, "linear")
    assert [row["name"] for row in rows] == ["linear/n_steps=20", "linear/n_steps=64"]
    for row in rows:
        assert row["features"] == 4  # mastercard_best's four scale-free inputs
        assert row["windows"] > 1000 and 0 < row["seconds"] and row["target_seconds"] == 1.0
    # Longer windows, fewer of them: each row windows its own n_steps.
    assert rows[0]["windows"] - rows[1]["windows"] == 64 - 20


def test_distribution_baselines_row_times_garch_and_climatology_on_five_training_years(tmp_path):
    (row,) = run_rows(tmp_path, "distribution")
    assert row["name"] == "distribution_baselines" and row["transform"] == "log_return"
    # 2016-2020 (Mastercard) or 2012-2016 (embedded MSFT) less the validation windows: about four
    # years of daily changes, the rows a run fits the baselines on.
    assert 950 < row["train_changes"] < 1100 and row["windows"] > 400 and row["levels"] == 7
    assert row["garch_seconds"] > 0 and row["climatology_seconds"] > 0 and row["target_garch_seconds"] == 1.0


def test_busy_row_times_the_default_run_idle_and_with_every_core_kept_busy(tmp_path):
    (row,) = run_rows(tmp_path, "busy", "--busy-epochs", "1")
    assert row["name"] == "busy/default_run" and row["epochs"] == 1
    assert row["cores"] == row["busy_processes"] == available_cores()
    assert row["idle_s"] > 0 and row["busy_s"] > 0 and row["target_ratio"] == 2.0
    assert row["ratio"] == pytest.approx(row["busy_s"] / row["idle_s"], rel=0.05)


def test_head_rows_compare_each_distribution_heads_epoch_with_the_point_heads(tmp_path):
    rows = run_rows(tmp_path, "heads", "--settings", "tutorial", "--epochs", "1", "--rounds", "1")
    assert [row["name"] for row in rows] == ["head/tutorial/quantile", "head/tutorial/normal"]
    for row in rows:
        assert row["point_s_per_epoch"] > 0 and row["head_s_per_epoch"] > 0 and row["target_ratio"] == 1.1
        assert row["ratio"] == pytest.approx(row["head_s_per_epoch"] / row["point_s_per_epoch"], rel=0.02)


def test_panel_row_reads_trains_and_evaluates_a_long_csv_of_many_series(tmp_path):
    (row,) = run_rows(tmp_path, "panel", "--panel-series", "3", "--panel-years", "3")
    assert row["name"] == "panel" and row["series"] == row["series_read"] == 3 and row["years"] == 3
    # every business day of 2000-2002 for each series, five numeric columns of 8 bytes
    assert row["rows"] == 3 * 782 and row["series_mb"] == round(3 * 782 * 5 * 8 / 2**20, 1)
    # each series: every row but the first n_steps (20) is a window's first target
    assert row["windows"] == 3 * (782 - 20)
    for key in ("setup_seconds", "epoch_seconds", "fit_seconds", "evaluate_seconds", "run_seconds",
                "setup_peak_mb", "fit_peak_mb", "evaluate_peak_mb", "peak_mb", "csv_mb"):
        assert row[key] > 0, key
    # high-water marks: each stage's includes the ones before it
    assert row["setup_peak_mb"] <= row["fit_peak_mb"] <= row["evaluate_peak_mb"] <= row["peak_mb"]
    assert row["peak_over_series"] == pytest.approx(row["peak_mb"] / (3 * 782 * 5 * 8 / 2**20), rel=0.05)
