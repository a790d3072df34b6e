"""Wall time of one grid of small training jobs with Hydra's basic launcher (one after another, in
one process) and with the joblib launcher (2 worker processes, each job's torch threads limited to
its share of the cores): `joblib_sweep_row()` for scripts/benchmark.py, or run this file alone."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
# Eight small jobs: 100 epochs of a small network on the embedded series, 5 to 10 s of fitting
# each. Each joblib worker first imports torch and Lightning (about 4.5 s here), so for jobs of
# a second or two the basic launcher, which imports once, is about as fast.
GRID = ["model=rnn,lstm,gru,birnn", "data.n_steps=5,20", "model.hidden_size=32", "trainer=cpu",
        "trainer.max_epochs=100", "callbacks.early_stopping=null"]


def timed_sweep(sweep_dir: Path, *overrides: str) -> tuple[float, int]:
    """Seconds the whole multirun command took, and how many jobs finished."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "stockrnn.train", "-m", f"hydra.sweep.dir={sweep_dir}",
                             *GRID, *overrides], cwd=REPO_ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"sweep in {sweep_dir} failed:\n{result.stderr[-3000:]}")
    return seconds, int((pd.read_csv(sweep_dir / "summary.csv")["status"] == "ok").sum())


def joblib_sweep_row(n_jobs: int = 2) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        basic_s, jobs = timed_sweep(Path(tmp) / "basic")
        joblib_s, joblib_jobs = timed_sweep(Path(tmp) / "joblib", "hydra/launcher=joblib",
                                            f"hydra.launcher.n_jobs={n_jobs}")
    if joblib_jobs != jobs:
        raise RuntimeError(f"the basic launcher finished {jobs} jobs, joblib {joblib_jobs}")
    return {"name": "sweep_joblib_vs_basic", "jobs": jobs, "basic_s": round(basic_s, 2),
            "joblib_s": round(joblib_s, 2), "ratio": round(joblib_s / basic_s, 3)}


if __name__ == "__main__":
    print(json.dumps(joblib_sweep_row(), indent=2))
