"""Which configurations of a sweep are really best: the Model Confidence Set (Hansen, Lunde and
Nason 2011, arch's implementation) over the jobs' squared validation errors on the days they share.

The set holds the best configuration with 90% confidence; the jobs outside it are worse than
some job inside by more than the validation days' noise explains. Validation only: the test
days stay for reading afterwards."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from arch.bootstrap import MCS

MCS_SIZE = 0.10  # 1 - confidence
MIN_SHARED_DAYS = 10  # fewer: no set is formed (the bootstrap has nothing to resample)
VAL_PREDICTIONS = "val_predictions.csv"  # as stockrnn.run_outputs writes it (that module imports torch)


def _targets(table: pd.DataFrame) -> pd.MultiIndex:
    """A validation target's key, in time order: a backtest's fold (0 for a run), its date, and its
    step (1 without a horizon column), so that runs and horizons line up only where they agree."""
    return pd.MultiIndex.from_arrays([table["fold"] if "fold" in table else [0] * len(table), table["date"],
                                      table["horizon"] if "horizon" in table else [1] * len(table)])


def validation_losses(job_dirs: dict[object, Path]) -> pd.DataFrame:
    """Squared validation errors, one column per job, on the targets every job forecast; empty
    when the jobs forecast different series (their actual values differ on a shared target)."""
    losses, actuals = {}, {}
    for job, job_dir in job_dirs.items():
        path = job_dir / VAL_PREDICTIONS
        if path.is_file():
            table = pd.read_csv(path)
            index = _targets(table)
            losses[job] = pd.Series(((table["predicted"] - table["actual"]) ** 2).to_numpy(), index=index)
            actuals[job] = pd.Series(table["actual"].to_numpy(), index=index)
    if not losses:
        return pd.DataFrame()
    shared = pd.DataFrame(actuals).dropna()
    if not shared.sub(shared.iloc[:, 0], axis=0).abs().le(1e-6 * shared.abs().max().max()).all().all():
        return pd.DataFrame()  # other data, dates or targets: their errors are not comparable
    return pd.DataFrame(losses).loc[shared.index].sort_index()


def confidence_set(losses: pd.DataFrame, seed: int = 0) -> set | None:
    """The jobs (columns) in the 90% Model Confidence Set, or None when fewer than two jobs or
    MIN_SHARED_DAYS shared targets leave nothing to compare."""
    if losses.shape[1] < 2 or len(losses) < MIN_SHARED_DAYS:
        return None
    mcs = MCS(losses.reset_index(drop=True), size=MCS_SIZE, reps=1000, seed=seed)
    mcs.compute()
    return set(mcs.included)
