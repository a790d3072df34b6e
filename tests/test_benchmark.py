"""The benchmark script's rows keep their contract fields (the figures themselves are not tested:
timings belong to benchmarks, never to tests)."""

import json
import subprocess
import sys

from conftest import REPO_ROOT


def test_windowing_row_counts_every_window_of_the_three_splits():
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts/benchmark.py"), "--windowing-child",
                             "20000", "8"], capture_output=True, text=True, check=True, timeout=120)
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"name", "points", "n_steps", "seconds", "peak_mb", "series_mb"} <= set(row)
    assert row["name"] == "windowing" and row["points"] == 20000 and row["n_steps"] == 8
    # train+val windows: every training row but the first n_steps; test: every test row
    assert row["windows"] == 20000 - 8
