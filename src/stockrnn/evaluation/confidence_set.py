"""Which configurations of a sweep are really best: the Model Confidence Set (Hansen, Lunde and
Nason 2011, arch's implementation) over the jobs' validation losses on the days they share: squared
errors, or each target's CRPS when every job forecast quantiles (model.distribution).

The set holds the best configuration with 90% confidence; the jobs outside it are worse than
some job inside by more than the validation days' noise explains. Validation only: the test
days stay for reading afterwards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from arch.bootstrap import MCS

from stockrnn.evaluation.interval_scores import crps

MCS_SIZE = 0.10  # 1 - confidence
MIN_SHARED_DAYS = 10  # fewer: no set is formed (the bootstrap has nothing to resample)
VAL_PREDICTIONS = "val_predictions.csv"  # as stockrnn.outputs.runs writes it (that module imports torch)


def _targets(table: pd.DataFrame) -> pd.MultiIndex:
    """A validation target's key, in time order: a backtest's fold (0 for a run), a panel's series
    (one name for a run), its date, and its step (1 without a horizon column), so that runs,
    series and horizons line up only where they agree."""
    return pd.MultiIndex.from_arrays([table["fold"] if "fold" in table else [0] * len(table),
                                      table["series"] if "series" in table else [""] * len(table), table["date"],
                                      table["horizon"] if "horizon" in table else [1] * len(table)])


def quantile_columns(table: pd.DataFrame) -> list[str]:
    """A distribution run's quantile columns (q0.05, ...), in level order."""
    return [c for c in table.columns if c.startswith("q") and c[1:].replace(".", "", 1).isdigit()]


def target_losses(table: pd.DataFrame, by_crps: bool) -> np.ndarray:
    if not by_crps:
        return ((table["predicted"] - table["actual"]) ** 2).to_numpy()
    columns = quantile_columns(table)
    levels = np.array([float(c[1:]) for c in columns])
    return crps(table["actual"].to_numpy()[:, None], table[columns].to_numpy()[:, None, :], levels)[:, 0]


def validation_losses(job_dirs: dict[object, Path]) -> pd.DataFrame:
    """Validation losses, one column per job, on the targets every job forecast: CRPS when every
    job has the same quantile columns, else squared errors; empty when the jobs forecast different
    series (their actual values differ on a shared target)."""
    tables = {job: pd.read_csv(job_dir / VAL_PREDICTIONS) for job, job_dir in job_dirs.items()
              if (job_dir / VAL_PREDICTIONS).is_file()}
    if not tables:
        return pd.DataFrame()
    column_sets = {tuple(quantile_columns(table)) for table in tables.values()}
    by_crps = len(column_sets) == 1 and bool(next(iter(column_sets)))
    losses, actuals = {}, {}
    for job, table in tables.items():
        index = _targets(table)
        losses[job] = pd.Series(target_losses(table, by_crps), index=index)
        actuals[job] = pd.Series(table["actual"].to_numpy(), index=index)
    shared = pd.DataFrame(actuals).dropna()
    if not shared.sub(shared.iloc[:, 0], axis=0).abs().le(1e-6 * shared.abs().max().max()).all().all():
        return pd.DataFrame()  # other data, dates or targets: their errors are not comparable
    return pd.DataFrame(losses).loc[shared.index].sort_index()


def confidence_set(losses: pd.DataFrame, seed: int = 0) -> set | None:
    """The jobs (columns) in the 90% Model Confidence Set, or None when fewer than two jobs or
    MIN_SHARED_DAYS shared targets leave nothing to compare."""
    if losses.shape[1] < 2 or len(losses) < MIN_SHARED_DAYS:
        return None
    # Jobs with identical losses (e.g. the same seed and weights, calibrated or not for RMSE) are
    # one candidate: arch's statistic divides by their zero loss difference's variance.
    distinct = losses.T.drop_duplicates().T
    if distinct.shape[1] < 2:
        return set(losses.columns)
    mcs = MCS(distinct.reset_index(drop=True), size=MCS_SIZE, reps=1000, seed=seed)
    mcs.compute()
    included = [losses[job] for job in mcs.included]
    return {job for job in losses.columns if any(losses[job].equals(kept) for kept in included)}
