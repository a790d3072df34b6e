"""Prove that a refactor changed no result: record small runs before and after it, and compare.

    PYTHONPATH=OLD/src python scripts/check_unchanged.py record DIR_BEFORE
    PYTHONPATH=NEW/src python scripts/check_unchanged.py record DIR_AFTER
    python scripts/check_unchanged.py compare DIR_BEFORE DIR_AFTER

`record` runs every command of COMMANDS below with whichever `stockrnn` this interpreter imports
(PYTHONPATH wins over the editable install, so one script records either side), each as
`sys.executable -m ...` in a scratch directory, and copies each run's result files (RESULT_FILES,
with a backtest's folds/<k>/ ones) to DIR/<name>/; not checkpoints, TensorBoard, pictures or logs.
About 100 s on 2 CPU cores.

`compare` prints one line per recorded file and exits 1 on any difference: a CSV must be
byte-identical or have the same columns and shape, equal text cells and numbers within 1e-9
(absolute or relative; a difference shown is relative for numbers above 1, else absolute);
metrics.json the same keys and values within 1e-9. Timing (keys and columns named *seconds*,
*_time*) is ignored: it differs on every run. A file on one side only is a difference.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

# Small and reproducible: a few epochs, one thread, fixed seed, deterministic kernels, on the CPU
# so that a machine with a GPU records the same figures.
SMALL = "trainer=cpu trainer.max_epochs=3 seed=0 torch_threads=1 trainer.deterministic=true"
PANEL = "data=sp500_stocks data.series=[AAPL,AMD,BAC]"
# name -> `python -m` command line, run in this order; {runs} is the scratch directory holding
# every run's directory, so predict and eval read the checkpoints of the runs above them.
COMMANDS = {
    "point": f"stockrnn.train data=default model=lstm {SMALL}",
    "normal": f"stockrnn.train data=default model.distribution=normal {SMALL}",
    "quantile_h3": f"stockrnn.train data=default model.distribution=quantile data.horizon=3"
                   f" {SMALL}",
    "panel_embedding": f"stockrnn.train {PANEL} model.series_embedding=4 {SMALL}",
    "backtest_panel": f"stockrnn.backtest {PANEL} backtest.folds=2 {SMALL}",
    "predict_point": "stockrnn.predict ckpt_path={runs}/point/checkpoints/best.ckpt",
    "predict_quantile_h3": "stockrnn.predict ckpt_path={runs}/quantile_h3/checkpoints/best.ckpt",
    "predict_panel": "stockrnn.predict ckpt_path={runs}/panel_embedding/checkpoints/best.ckpt",
    "eval_point": "stockrnn.eval ckpt_path={runs}/point/checkpoints/best.ckpt",
    "eval_panel": "stockrnn.eval ckpt_path={runs}/panel_embedding/checkpoints/best.ckpt",
}
# Every result file a run can leave (README, Reference, Files).
RESULT_FILES = {"metrics.json", "predictions.csv", "val_predictions.csv", "per_series.csv",
                "backtest.csv", "forecast.csv"}
TIMING = re.compile(r"seconds|(^|_)time(_|$)")
TOLERANCE = 1e-9


# --- record ------------------------------------------------------------------------------------

def record(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        sys.exit(f"check_unchanged: {out} is not empty; record into a new directory")
    import stockrnn  # only to say which code is being recorded

    print(f"recording stockrnn from {Path(stockrnn.__file__).parent} into {out}")
    started = time.perf_counter()
    # A scratch working directory: anything a run writes relative to it (outputs/mlruns...) and
    # the checkpoints go away afterwards.
    with tempfile.TemporaryDirectory(prefix="check_unchanged_") as scratch:
        runs = Path(scratch) / "runs"
        for name, command in COMMANDS.items():
            run_dir = runs / name
            run(command.format(runs=runs).split() + [f"hydra.run.dir={run_dir}"], Path(scratch))
            copy_results(run_dir, out / name)
    print(f"recorded {len(COMMANDS)} runs in {time.perf_counter() - started:.0f} s")


def run(args: list[str], cwd: Path) -> None:
    started = time.perf_counter()
    # Fixed hashing, so that nothing ordered by a set of strings differs from one record to another;
    # STOCKRNN_DEBUG: a failing run shows its traceback, not one line.
    env = {**os.environ, "PYTHONHASHSEED": "0", "STOCKRNN_DEBUG": "1"}
    done = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True,
                          text=True)
    print(f"  {time.perf_counter() - started:5.1f} s  python -m {' '.join(args)}")
    if done.returncode != 0:
        sys.exit(f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}\ncheck_unchanged: the run above "
                 f"failed with status {done.returncode}")


def copy_results(run_dir: Path, dest: Path) -> None:
    for path in sorted(run_dir.rglob("*")):
        if path.name in RESULT_FILES:
            target = dest / path.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


# --- compare -----------------------------------------------------------------------------------

def compare(before: Path, after: Path) -> int:
    paths = sorted({p.relative_to(d) for d in (before, after) for p in d.rglob("*") if p.is_file()})
    if not paths:
        sys.exit(f"check_unchanged: nothing recorded in {before} or {after}")
    failures = 0
    for rel in paths:
        verdict, ok = compare_file(before / rel, after / rel)
        failures += not ok
        print(f"{rel}: {verdict}")
    print(f"{len(paths)} files, {failures} different" if failures else
          f"{len(paths)} files, all unchanged")
    return 1 if failures else 0


def compare_file(a: Path, b: Path) -> tuple[str, bool]:
    if not (a.exists() and b.exists()):
        return f"DIFFERENT: only in {a.parent if a.exists() else b.parent}", False
    if a.read_bytes() == b.read_bytes():
        return "identical", True
    if a.suffix == ".json":
        x, y = json.loads(a.read_text()), json.loads(b.read_text())
        if x.keys() != y.keys():
            return f"DIFFERENT: keys on one side only: {sorted(x.keys() ^ y.keys())}", False
        return largest_difference({k: ([x[k]], [y[k]]) for k in x if not TIMING.search(k)}, "key")
    return compare_csv(a, b)


def compare_csv(a: Path, b: Path) -> tuple[str, bool]:
    # Read as text: a column is compared as numbers only when both sides read as numbers.
    x, y = (pd.read_csv(p, dtype=str) for p in (a, b))
    if list(x.columns) != list(y.columns):
        return f"DIFFERENT: columns {list(x.columns)} != {list(y.columns)}", False
    if x.shape != y.shape:
        return f"DIFFERENT: shape {x.shape} != {y.shape}", False
    return largest_difference(
        {c: (cells(x[c]), cells(y[c])) for c in x.columns if not TIMING.search(c)}, "column")


def cells(column: pd.Series) -> list:
    """A CSV column's cells as floats when every one reads as a number (or is empty), else text."""
    try:
        return pd.to_numeric(column).astype(float).tolist()
    except (ValueError, TypeError):
        return column.fillna("").tolist()


def largest_difference(sides: dict[str, tuple[list, list]], what: str) -> tuple[str, bool]:
    """The verdict on a file's {key or column: (values before, values after)}, timing left out."""
    worst, where = 0.0, None
    for name, (before, after) in sides.items():
        for u, v in zip(before, after):
            diff = difference(u, v)
            if diff > worst:
                worst, where = diff, f"{what} {name}: {u!r} != {v!r}"
    # The bytes differ, so "identical" here means: every value equal, timing aside.
    if worst == 0:
        return "identical values (bytes differ; timing ignored)", True
    if worst <= TOLERANCE:
        return f"equal within {TOLERANCE:g} (largest difference {worst:.3g}, {where})", True
    return f"DIFFERENT: {where}, largest difference {worst:.6g}", False


def difference(u, v) -> float:
    """0 when equal. Numbers: their difference relative to the larger when above 1, else absolute
    (so at most 1e-9 means within 1e-9 absolute or relative). inf for unequal text or types."""
    if type(u) in (int, float) and type(v) in (int, float):
        if u == v or (math.isnan(u) and math.isnan(v)):
            return 0.0
        diff = abs(u - v) / max(1.0, abs(u), abs(v))
        return math.inf if math.isnan(diff) else diff
    return 0.0 if type(u) is type(v) and u == v else math.inf


def main() -> None:
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "record":
        record(Path(args[1]).resolve())
    elif len(args) == 3 and args[0] == "compare":
        sys.exit(compare(Path(args[1]), Path(args[2])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
