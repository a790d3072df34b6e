"""One global network against one network per series, on the embedded panel of 20 S&P 500 stocks.

    python scripts/panel_results.py [--seeds 0 1 2] [--jobs 2] [--out DIR] [--max-epochs N]

Runs, each with the real CLI and the same settings (data=sp500_stocks, the default LSTM):
the global model over every series, the global model with model.series_embedding=4, and one
model per series (data.series=[name]); every seed. Prints, per series and pooled, the test RMSE
of each (mean over seeds) beside persistence and the global and local ridges of the same targets,
the mean skill over series, and one-sided Diebold-Mariano p-values of global against per-series
networks on each series' test days.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))
from results import mean_std  # noqa: E402  (scripts/ is on the path: this script's folder)
from stockrnn.data.sources import read_panel  # noqa: E402
from stockrnn.outputs.runs import markdown_table  # noqa: E402
from stockrnn.evaluation.significance import diebold_mariano  # noqa: E402

BASE = ["data=sp500_stocks", "trainer=cpu", "torch_threads=1", "callbacks.progress_bar=null", "logger=csv"]
EMBEDDING = 4


def run(overrides: list[str], run_dir: Path, reuse: bool = False) -> Path:
    """One training run (an earlier one in run_dir is replaced, or with reuse kept when it finished);
    returns its directory."""
    if reuse and (run_dir / "metrics.json").is_file():
        return run_dir
    shutil.rmtree(run_dir, ignore_errors=True)
    command = [sys.executable, "-m", "stockrnn.train", *BASE, *overrides, f"hydra.run.dir={run_dir}"]
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if finished.returncode != 0:
        last_line = (finished.stderr.strip().splitlines() or ["(no message)"])[-1]
        sys.exit(f"panel_results.py: {' '.join(overrides)} failed: {last_line}")
    return run_dir


def series_names() -> list[str]:
    return list(read_panel(None, "sp500_stocks", "Date", None, None, None, "wide", "Close", None))


def predictions(run_dir: Path) -> pd.DataFrame:
    table = pd.read_csv(run_dir / "predictions.csv")
    if "series" not in table:  # a run on one series reads it as a panel of one: it has the column
        raise SystemExit(f"{run_dir}: predictions.csv has no series column")
    return table


def of_series(table: pd.DataFrame, name: str) -> pd.DataFrame:
    return table[table["series"] == name]


def rmse(errors: pd.Series) -> float:
    return float(np.sqrt(np.mean(errors**2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (each uses one thread)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "outputs" / "panel_results")
    parser.add_argument("--reuse", action="store_true", help="keep runs of --out that finished (resume)")
    parser.add_argument("--max-epochs", type=int, default=None, help="trainer.max_epochs (default: the config's)")
    args = parser.parse_args()
    epochs = [f"trainer.max_epochs={args.max_epochs}"] if args.max_epochs else []
    names = series_names()
    jobs = {}
    for seed in args.seeds:
        jobs[("global", seed)] = [f"seed={seed}", *epochs]
        jobs[("embedding", seed)] = [f"seed={seed}", f"model.series_embedding={EMBEDDING}", *epochs]
        for name in names:
            jobs[(name, seed)] = [f"seed={seed}", f"data.series=[{name}]", *epochs]
    # Global runs first: they are the longest, so they do not finish last alone.
    order = sorted(jobs, key=lambda key: key[0] not in ("global", "embedding"))
    with ThreadPoolExecutor(args.jobs) as pool:
        dirs = dict(zip(order, pool.map(lambda key: run(jobs[key], args.out / f"{key[0]}_{key[1]}", args.reuse), order)))

    rows, skills, pvalues = [], {"global": [], "embedding": [], "per_series": []}, []
    for name in names:
        row = {"series": name}
        for kind in ("global", "embedding", "per_series"):
            per_seed = []
            for seed in args.seeds:
                table = predictions(dirs[(kind if kind != "per_series" else name, seed)])
                mine = of_series(table, name)
                per_seed.append(rmse(mine["predicted"] - mine["actual"]))
                if kind == "global":  # the baselines are the same in every run; the global one's is shown
                    row["persistence"] = rmse(mine["persistence"] - mine["actual"])
                    row["global ridge"] = rmse(mine["linear"] - mine["actual"])
                    row["local ridge"] = rmse(mine["local_linear"] - mine["actual"])
            row[kind] = mean_std(per_seed)
            skills[kind].append([1 - value / row["persistence"] for value in per_seed])
        for seed in args.seeds:  # one-sided: global better than per-series on this series' test days
            both = [of_series(predictions(dirs[(kind, seed)]), name) for kind in ("global", name)]
            actual = both[0][["actual"]].to_numpy()
            pvalues.append(diebold_mariano(actual, both[0][["predicted"]].to_numpy(),
                                           both[1][["predicted"]].to_numpy())[1])
        rows.append(row)
    table = pd.DataFrame(rows)
    print(markdown_table(table))
    print()
    first = args.seeds[0]
    print("| | seed | mean skill over series | median skill | series beating persistence | pooled test RMSE |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, values in skills.items():
        for k, seed in enumerate(args.seeds):
            per_series = np.array(values)[:, k]
            table_seed = pd.concat([of_series(predictions(dirs[(name if kind == "per_series" else kind, seed)]), name)
                                    for name in names])
            print(f"| {kind} | {seed} | {per_series.mean():+.3f} | {np.median(per_series):+.3f} | "
                  f"{int((per_series > 0).sum())} | {rmse(table_seed['predicted'] - table_seed['actual']):.3f} |")
    pooled = {kind: pd.concat([of_series(predictions(dirs[(name if kind == "per_series" else kind, first)]), name)
                               for name in names]) for kind in skills}
    for key in ("persistence", "linear", "local_linear"):
        print(f"{key}: pooled test RMSE {rmse(pooled['global'][key] - pooled['global']['actual']):.3f}")
    for kind, key in (("global ridge", "linear"), ("local ridge", "local_linear")):
        table_0 = predictions(dirs[("global", args.seeds[0])])
        per_series = [1 - rmse(part[key] - part["actual"]) / rmse(part["persistence"] - part["actual"])
                      for _, part in table_0.groupby("series")]
        print(f"{kind}: mean skill over series {np.mean(per_series):+.4f}")
    pvalues = np.array(pvalues).reshape(len(names), len(args.seeds))
    print(f"global better than per-series (one-sided DM, p < 0.05) in {int((pvalues.max(axis=1) < 0.05).sum())} "
          f"series at every seed; p-values per series and seed:")
    print(pd.DataFrame(pvalues, index=names, columns=[f"seed {s}" for s in args.seeds]).round(4).to_string())
    for kind in ("global", "embedding"):
        objectives = [json.loads((dirs[(kind, seed)] / "metrics.json").read_text())["objective"] for seed in args.seeds]
        print(f"{kind}: validation objective per seed {[round(value, 4) for value in objectives]}")
    per_series_objectives = [np.mean([json.loads((dirs[(name, seed)] / "metrics.json").read_text())["objective"]
                                      for name in names]) for seed in args.seeds]
    print(f"per_series: mean validation objective per seed {[round(value, 4) for value in per_series_objectives]}")


if __name__ == "__main__":
    main()
