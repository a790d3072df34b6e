"""Walk-forward backtests of the default configurations, and the ablation table of docs/results.md
("Defaults that do not lose to persistence"), every backtest with the real CLI.

    python scripts/default_backtests.py [--section defaults|ablation] [--seeds 0 1 2] [--jobs 2] [--reuse] [--out DIR]

defaults: `python -m stockrnn.backtest data=D seed=S` with every other key at its default, for each
embedded single series (MSFT, S&P 500, NASDAQ), the Mastercard CSV (skipped when it is absent)
and the 20-stock panel. Per data set and seed: pooled test RMSE over the five folds beside
persistence and the linear model of the same targets, skill, the one-sided Diebold-Mariano
p-values "better than persistence" and "worse than persistence" (the reversed test), and for the
panel the mean skill over series against the per-series ridges', with a pooled DM test against
them. The "seeds pooled" row averages each day's loss differential over the seeds (is the
average seed better?) and tests that series.

ablation: one formulation key changed at a time from the default, on MSFT and on the panel; the
validation objective (what chose the defaults) beside the test figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))
from stockrnn.evaluation.significance import diebold_mariano_losses  # noqa: E402
from results import run  # noqa: E402  (scripts/results.py: one command run with the real CLI)

MASTERCARD_CSV = REPO_ROOT.parent / "shared" / "data" / "Mastercard_stock_history.csv"
# Besides results.py's one thread and no progress bar.
ON_CPU = ["trainer=cpu", "logger=csv"]

DATASETS = {
    "MSFT": ["data=default"],
    "S&P 500": ["data=sp500"],
    "NASDAQ": ["data=nasdaq"],
    "Mastercard": ["data=mastercard", "data.path={csv}"],
    "panel": ["data=sp500_stocks"],
}
# One key changed at a time from the default (the `default` row has none).
ABLATIONS = {
    "MSFT": {
        "default": [],
        "level target, input [High], minmax (the old default)": [
            "data.transform=level", "data.features=[High]", "data.scaler=minmax", "data.window_norm=none"],
        "no intraday ratios (input High.log_return)": ["data.features=[High.log_return]"],
        "window_norm=standard": ["data.window_norm=standard"],
        "window_norm=revin": ["data.window_norm=revin"],
        "no combination with persistence": ["model.combination=none"],
    },
    "panel": {
        "default": [],
        "level target, input [Close], minmax (the old default)": [
            "data.transform=level", "data.features=[Close]", "data.scaler=minmax", "data.window_norm=none"],
        "window_norm=standard": ["data.window_norm=standard"],
        "window_norm=revin": ["data.window_norm=revin"],
        "no per-series scaling (data.scaler=none)": ["data.scaler=none"],
        "series embedding 4": ["model.series_embedding=4"],
        "no combination with persistence": ["model.combination=none"],
    },
}


def losses(run_dir: Path) -> pd.DataFrame:
    """Each test forecast's squared errors (model, persistence, linear, the local ridges of a panel),
    indexed by (series, date, fold) so that seeds line up."""
    table = pd.read_csv(run_dir / "predictions.csv")
    keys = [k for k in ("series", "date", "fold") if k in table]
    errors = {name: (table[name] - table["actual"]) ** 2
              for name in ("predicted", "persistence", "linear", "local_linear") if name in table}
    return pd.DataFrame(errors).set_index(pd.MultiIndex.from_frame(table[keys]))


def row(label: str, loss: pd.DataFrame, metrics: dict | None) -> dict:
    """The figures of one backtest (or of seeds pooled: loss holds each day's mean over seeds)."""
    rmse = {name: float(np.sqrt(loss[name].mean())) for name in loss}
    _, better = diebold_mariano_losses(loss["predicted"].to_numpy(), loss["persistence"].to_numpy(), 1)
    _, worse = diebold_mariano_losses(loss["persistence"].to_numpy(), loss["predicted"].to_numpy(), 1)
    _, vs_linear = diebold_mariano_losses(loss["predicted"].to_numpy(), loss["linear"].to_numpy(), 1)
    figures = {"": label, "RMSE": rmse["predicted"], "persistence": rmse["persistence"], "linear": rmse["linear"],
               "skill": 1 - rmse["predicted"] / rmse["persistence"], "p better": better, "p worse": worse,
               "p vs linear": vs_linear}
    if "local_linear" in loss:
        _, vs_local = diebold_mariano_losses(loss["predicted"].to_numpy(), loss["local_linear"].to_numpy(), 1)
        by_series = loss.groupby(level="series").mean().pow(0.5)
        figures |= {"series skill mean": float((1 - by_series["predicted"] / by_series["persistence"]).mean()),
                    "local ridges' mean": float((1 - by_series["local_linear"] / by_series["persistence"]).mean()),
                    "p vs local ridges": vs_local,
                    "series beating persistence": int((by_series["predicted"] < by_series["persistence"]).sum())}
    if metrics is not None:
        figures |= {"objective": metrics["objective"], "epochs": metrics["epochs"]}
    return figures


def markdown(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    cell = lambda v: "" if v is None else (f"{v:.3g}" if isinstance(v, float) and abs(v) < 0.01 else
                                           f"{v:.4f}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "| --- " * len(columns) + "|"]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def run_all(jobs: dict[tuple, tuple[list[str], Path]], workers: int, reuse: bool) -> dict[tuple, Path]:
    with ThreadPoolExecutor(workers) as pool:
        futures = {key: pool.submit(run, [*overrides, *ON_CPU], run_dir, reuse, "stockrnn.backtest")
                   for key, (overrides, run_dir) in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def datasets(csv: Path) -> dict[str, list[str]]:
    found = {name: [o.format(csv=csv) for o in overrides] for name, overrides in DATASETS.items()}
    if not csv.is_file():
        print(f"(Mastercard skipped: no CSV at {csv})")
        del found["Mastercard"]
    return found


def defaults_section(seeds: list[int], csv: Path, out: Path, workers: int, reuse: bool) -> None:
    data = datasets(csv)
    jobs = {(name, seed): ([*overrides, f"seed={seed}"], out / "defaults" / name.replace(" ", "").replace("&", "")
                           / f"seed{seed}") for name, overrides in data.items() for seed in seeds}
    done = run_all(jobs, workers, reuse)
    for name in data:
        rows, seed_losses = [], []
        for seed in seeds:
            run_dir = done[(name, seed)]
            seed_losses.append(losses(run_dir))
            rows.append(row(f"seed {seed}", seed_losses[-1], json.loads((run_dir / "metrics.json").read_text())))
        if len(seeds) > 1:
            rows.append(row(f"seeds {'-'.join(map(str, seeds))} pooled", sum(seed_losses) / len(seeds), None))
        print(f"\n### {name} (`python -m stockrnn.backtest {' '.join(data[name])}`)\n\n{markdown(rows)}", flush=True)


def ablation_section(seeds: list[int], csv: Path, out: Path, workers: int, reuse: bool) -> None:
    jobs = {(data, label, seed): ([*DATASETS[data], *overrides, f"seed={seed}"],
                                  out / "ablation" / data / f"{index}" / f"seed{seed}")
            for data, variants in ABLATIONS.items() for index, (label, overrides) in enumerate(variants.items())
            for seed in seeds}
    done = run_all(jobs, workers, reuse)
    for data, variants in ABLATIONS.items():
        rows = []
        for label in variants:
            seed_losses = [losses(done[(data, label, seed)]) for seed in seeds]
            objective = np.mean([json.loads((done[(data, label, s)] / "metrics.json").read_text())["objective"]
                                 for s in seeds])
            figures = row(label, sum(seed_losses) / len(seeds), None)
            rows.append({"": label, "objective (val)": float(objective), **{k: v for k, v in figures.items() if k}})
        print(f"\n### {data}, seeds {seeds}\n\n{markdown(rows)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=("defaults", "ablation"), default="defaults")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--csv", type=Path, default=MASTERCARD_CSV, help="the Mastercard CSV")
    parser.add_argument("--jobs", type=int, default=2, help="backtests at once (each uses one thread)")
    parser.add_argument("--reuse", action="store_true", help="keep backtests of --out that finished")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "outputs" / "default_backtests")
    args = parser.parse_args()
    section = defaults_section if args.section == "defaults" else ablation_section
    section(args.seeds, args.csv, args.out, args.jobs, args.reuse)


if __name__ == "__main__":
    main()
