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
# Keys of a validation target: a backtest's folds can forecast the same day twice.
_TARGET_KEYS = ("fold", "date", "horizon")
VAL_PREDICTIONS = "val_predictions.csv"  # as stockrnn.run_outputs writes it (that module imports torch)


def validation_losses(job_dirs: dict[object, Path]) -> pd.DataFrame:
    """Squared validation errors, one column per job, on the targets every job forecast."""
    losses = {}
    for job, job_dir in job_dirs.items():
        path = job_dir / VAL_PREDICTIONS
        if not path.is_file():
            continue
        table = pd.read_csv(path)
        keys = [key for key in _TARGET_KEYS if key in table]
        losses[job] = ((table["predicted"] - table["actual"]) ** 2).set_axis(
            pd.MultiIndex.from_frame(table[keys].astype(str)))
    return pd.DataFrame(losses).dropna() if losses else pd.DataFrame()


def confidence_set(losses: pd.DataFrame, seed: int = 0) -> set | None:
    """The jobs (columns) in the 90% Model Confidence Set, or None when fewer than two jobs or
    MIN_SHARED_DAYS shared targets leave nothing to compare."""
    if losses.shape[1] < 2 or len(losses) < MIN_SHARED_DAYS:
        return None
    mcs = MCS(losses.reset_index(drop=True), size=MCS_SIZE, reps=1000, seed=seed)
    mcs.compute()
    return set(mcs.included)
