"""Rerun the experiments of docs/results.md over several seeds and print their table.

    python scripts/results.py [--seeds 0 1 2] [--csv PATH] [--out DIR]

Each (experiment, data) pair is trained once per seed with the real CLI; the table gives the
mean and standard deviation over seeds of the test figures in price units, beside persistence
and the linear baseline of the same runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MASTERCARD_CSV = REPO_ROOT.parent / "shared" / "data" / "Mastercard_stock_history.csv"

# name -> Hydra overrides; {csv} is the Mastercard file.
RUNS = {
    "mastercard_rnn": ["experiment=mastercard_rnn", "data.path={csv}"],
    "mastercard_lstm": ["experiment=mastercard_lstm", "data.path={csv}"],
    "mastercard_gru": ["experiment=mastercard_gru", "data.path={csv}"],
    "mastercard_birnn": ["experiment=mastercard_birnn", "data.path={csv}"],
    "mastercard_best": ["experiment=mastercard_best", "data.path={csv}"],
    # The same best configuration carried unchanged to other real series: data and dates only.
    # msft: train 2012-2016, test 2017; sp500 and nasdaq: train 2013-2017, test 2018.
    "best_on_msft": ["experiment=mastercard_best", "data=default"],
    "best_on_sp500": ["experiment=mastercard_best", "data=sp500"],
    "best_on_nasdaq": ["experiment=mastercard_best", "data=nasdaq"],
}
COLUMNS = ("val_rmse", "test_rmse", "test_mae", "skill", "test_direction_acc", "persistence_rmse",
           "linear_rmse", "linear_skill", "linear_lags", "dm_pvalue_persistence", "dm_pvalue_linear",
           "epochs", "train_seconds")
# One-sided p-values: the largest over the seeds is what every seed clears.
P_VALUES = ("dm_pvalue_persistence", "dm_pvalue_linear")


def run(overrides: list[str], run_dir: Path) -> dict:
    """One training run; an earlier result in run_dir is replaced (train refuses to overwrite one)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    command = [sys.executable, "-m", "stockrnn.train", *overrides, f"hydra.run.dir={run_dir}",
               "torch_threads=1", "callbacks.progress_bar=null"]
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if finished.returncode != 0:
        last_line = (finished.stderr.strip().splitlines() or ["(no message)"])[-1]
        sys.exit(f"results.py: {' '.join(overrides)} failed: {last_line}")
    return json.loads((run_dir / "metrics.json").read_text())


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--csv", type=Path, default=MASTERCARD_CSV)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "outputs" / "results")
    parser.add_argument("--only", nargs="*", help="names of RUNS to rerun")
    args = parser.parse_args()

    print("| run | " + " | ".join(COLUMNS) + " |")
    print("| --- " * (len(COLUMNS) + 1) + "|")
    for name, overrides in RUNS.items():
        if args.only and name not in args.only:
            continue
        metrics = []
        for seed in args.seeds:
            run_dir = args.out / name / f"seed{seed}"
            filled = [o.format(csv=args.csv) for o in overrides] + [f"seed={seed}"]
            metrics.append(run(filled, run_dir))
        cells = [f"max {max(m[c] for m in metrics):.3g}" if c in P_VALUES else mean_std([m[c] for m in metrics])
                 for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
