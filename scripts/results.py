"""Rerun the experiments of docs/results.md over several seeds and print their tables, one section
at a time, every run with the real CLI.

    python scripts/results.py [--seeds 0 1 2] [--csv PATH] [--only NAME ...] [--out DIR]
    python scripts/results.py --section panel [--seeds 0 1 2] [--jobs 2] [--reuse] [--max-epochs N] [--out DIR]

single (the default; "Final figures"): each (experiment, data) pair of RUNS trained once per seed;
the table gives the mean and standard deviation over seeds of the test figures in price units,
beside persistence and the linear baseline of the same runs.

panel ("Panels: one model for 20 stocks"): one global network against one network per series, on
the embedded panel of 20 S&P 500 stocks, with the same settings (data=sp500_stocks, the default
LSTM): the global model over every series, the global model with model.series_embedding=4, and
one model per series (data.series=[name]); every seed. Prints, per series and pooled, the test
RMSE of each (mean over seeds) beside persistence and the global and local ridges of the same
targets, the mean skill over series, and one-sided Diebold-Mariano p-values of global against
per-series networks on each series' test days.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))
from stockrnn.data.sources import read_panel  # noqa: E402
from stockrnn.evaluation.significance import diebold_mariano  # noqa: E402
from stockrnn.outputs.runs import markdown_table  # noqa: E402

MASTERCARD_CSV = REPO_ROOT.parent / "shared" / "data" / "Mastercard_stock_history.csv"
# Every run: one torch thread, no progress bar.
QUIET = ["torch_threads=1", "callbacks.progress_bar=null"]


def run(overrides: list[str], run_dir: Path, reuse: bool = False, module: str = "stockrnn.train") -> Path:
    """One training run, or another command's (module), e.g. a backtest (an earlier one in run_dir is
    replaced: train refuses to overwrite one; with reuse one that finished is kept); returns its directory."""
    if reuse and (run_dir / "metrics.json").is_file():
        return run_dir
    shutil.rmtree(run_dir, ignore_errors=True)
    command = [sys.executable, "-m", module, *overrides, *QUIET, f"hydra.run.dir={run_dir}"]
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if finished.returncode != 0:
        last_line = (finished.stderr.strip().splitlines() or ["(no message)"])[-1]
        sys.exit(f"{Path(sys.argv[0]).name}: {' '.join(overrides)} failed: {last_line}")
    return run_dir


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


# single: the single-series experiments. name -> Hydra overrides; {csv} is the Mastercard file.
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


def single_section(seeds: list[int], csv: Path, out: Path, only: list[str] | None) -> None:
    print("| run | " + " | ".join(COLUMNS) + " |")
    print("| --- " * (len(COLUMNS) + 1) + "|")
    for name, overrides in RUNS.items():
        if only and name not in only:
            continue
        metrics = []
        for seed in seeds:
            filled = [o.format(csv=csv) for o in overrides] + [f"seed={seed}"]
            run_dir = run(filled, out / name / f"seed{seed}")
            metrics.append(json.loads((run_dir / "metrics.json").read_text()))
        cells = [f"max {max(m[c] for m in metrics):.3g}" if c in P_VALUES else mean_std([m[c] for m in metrics])
                 for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


# panel: global against per-series networks on the embedded S&P 500 stocks, on CPUs.
PANEL = ["data=sp500_stocks", "trainer=cpu", "logger=csv"]
EMBEDDING = 4


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


def objective(run_dir: Path) -> float:
    return json.loads((run_dir / "metrics.json").read_text())["objective"]


def panel_section(seeds: list[int], out: Path, jobs: int, reuse: bool, max_epochs: int | None) -> None:
    epochs = [f"trainer.max_epochs={max_epochs}"] if max_epochs else []
    names = series_names()
    overrides = {}
    for seed in seeds:
        overrides[("global", seed)] = [f"seed={seed}", *epochs]
        overrides[("embedding", seed)] = [f"seed={seed}", f"model.series_embedding={EMBEDDING}", *epochs]
        for name in names:
            overrides[(name, seed)] = [f"seed={seed}", f"data.series=[{name}]", *epochs]
    # Global runs first: they are the longest, so they do not finish last alone.
    order = sorted(overrides, key=lambda key: key[0] not in ("global", "embedding"))
    with ThreadPoolExecutor(jobs) as pool:
        dirs = dict(zip(order, pool.map(
            lambda key: run([*PANEL, *overrides[key]], out / f"{key[0]}_{key[1]}", reuse), order)))

    rows, skills, pvalues = [], {"global": [], "embedding": [], "per_series": []}, []
    for name in names:
        row = {"series": name}
        for kind in ("global", "embedding", "per_series"):
            per_seed = []
            for seed in seeds:
                table = predictions(dirs[(kind if kind != "per_series" else name, seed)])
                mine = of_series(table, name)
                per_seed.append(rmse(mine["predicted"] - mine["actual"]))
                if kind == "global":  # the baselines are the same in every run; the global one's is shown
                    row["persistence"] = rmse(mine["persistence"] - mine["actual"])
                    row["global ridge"] = rmse(mine["linear"] - mine["actual"])
                    row["local ridge"] = rmse(mine["local_linear"] - mine["actual"])
            row[kind] = mean_std(per_seed)
            skills[kind].append([1 - value / row["persistence"] for value in per_seed])
        for seed in seeds:  # one-sided: global better than per-series on this series' test days
            both = [of_series(predictions(dirs[(kind, seed)]), name) for kind in ("global", name)]
            actual = both[0][["actual"]].to_numpy()
            pvalues.append(diebold_mariano(actual, both[0][["predicted"]].to_numpy(),
                                           both[1][["predicted"]].to_numpy())[1])
        rows.append(row)
    table = pd.DataFrame(rows)
    print(markdown_table(table))
    print()
    first = seeds[0]
    print("| | seed | mean skill over series | median skill | series beating persistence | pooled test RMSE |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, values in skills.items():
        for k, seed in enumerate(seeds):
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
        table_0 = predictions(dirs[("global", first)])
        per_series = [1 - rmse(part[key] - part["actual"]) / rmse(part["persistence"] - part["actual"])
                      for _, part in table_0.groupby("series")]
        print(f"{kind}: mean skill over series {np.mean(per_series):+.4f}")
    pvalues = np.array(pvalues).reshape(len(names), len(seeds))
    print(f"global better than per-series (one-sided DM, p < 0.05) in {int((pvalues.max(axis=1) < 0.05).sum())} "
          f"series at every seed; p-values per series and seed:")
    print(pd.DataFrame(pvalues, index=names, columns=[f"seed {s}" for s in seeds]).round(4).to_string())
    for kind in ("global", "embedding"):
        objectives = [objective(dirs[(kind, seed)]) for seed in seeds]
        print(f"{kind}: validation objective per seed {[round(value, 4) for value in objectives]}")
    per_series_objectives = [float(np.mean([objective(dirs[(name, seed)]) for name in names])) for seed in seeds]
    print(f"per_series: mean validation objective per seed {[round(value, 4) for value in per_series_objectives]}")


# The options each section alone takes, and their defaults.
SECTION_OPTIONS = {"single": {"csv": MASTERCARD_CSV, "only": None},
                   "panel": {"jobs": 2, "reuse": False, "max_epochs": None}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=list(SECTION_OPTIONS), default="single",
                        help="single: the single-series table (default); panel: the panel's tables")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path,
                        help="the runs' directory (default: outputs/results, outputs/panel_results)")
    single = parser.add_argument_group("single")
    single.add_argument("--csv", type=Path, help="the Mastercard CSV (default: ../shared/data/)")
    single.add_argument("--only", nargs="*", help="names of RUNS to rerun")
    panel = parser.add_argument_group("panel")
    panel.add_argument("--jobs", type=int, help="runs at once (each uses one thread; default 2)")
    panel.add_argument("--reuse", action="store_true", default=None,
                       help="keep runs of --out that finished (resume)")
    panel.add_argument("--max-epochs", type=int, help="trainer.max_epochs (default: the config's)")
    args = parser.parse_args()
    for section, defaults in SECTION_OPTIONS.items():
        given = [name for name in defaults if getattr(args, name) is not None]
        if section != args.section and given:
            parser.error(f"--{given[0].replace('_', '-')} belongs to --section {section}")
        for name, default in defaults.items():
            if getattr(args, name) is None:
                setattr(args, name, default)

    if args.section == "single":
        single_section(args.seeds, args.csv, args.out or REPO_ROOT / "outputs" / "results", args.only)
    else:
        panel_section(args.seeds, args.out or REPO_ROOT / "outputs" / "panel_results", args.jobs, args.reuse,
                      args.max_epochs)


if __name__ == "__main__":
    main()
