"""What every entry point shares: user errors become a short message and a non-zero exit; in a
sweep, a job's error is recorded in its directory and the sweep goes on."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig

from stockrnn.errors import StockrnnError
from stockrnn.utils.files import refuse_finished_run_dir, write_json_atomically

log = logging.getLogger(__name__)

# Written into a sweep job's directory instead of metrics.json when the job failed.
ERROR_FILE = "error.json"


@contextmanager
def user_errors_exit():
    """A StockrnnError ends the command with its message (no traceback) and exit status 1.

    STOCKRNN_DEBUG=1 or HYDRA_FULL_ERROR=1 re-raise it, traceback included.
    """
    try:
        yield
    except Exception as err:
        user_error = _user_error(err)
        debug = os.environ.get("STOCKRNN_DEBUG") == "1" or os.environ.get("HYDRA_FULL_ERROR") == "1"
        if user_error is None or debug:
            raise
        print(f"stockrnn: error: {user_error}", file=sys.stderr)
        raise SystemExit(1) from None


def is_sweep_job() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@contextmanager
def sweep_job_failures_recorded():
    """In a multirun job, any exception is logged, written to error.json in the job's directory,
    and swallowed: the code after the `with` block runs, and the launcher goes on to the next job
    (an exception would stop the basic launcher's sweep). Outside a multirun it does nothing."""
    if not is_sweep_job():
        yield
        return
    try:
        yield
    except Exception as err:
        message = error_message(err)
        log.error("job failed: %s", message)
        kind = type(_user_error(err) or err).__name__
        job_dir = Path(HydraConfig.get().runtime.output_dir)
        write_job_error(job_dir, message, kind, traceback=traceback.format_exc())


def write_job_error(job_dir: Path, message: str, kind: str, **details) -> None:
    """Record a sweep job as failed: error.json in its directory, with the one-line message, the
    kind of error, and any details (the traceback, the SLURM state)."""
    write_json_atomically({"error": message, "type": kind, **details}, job_dir / ERROR_FILE)


def error_message(err: BaseException) -> str:
    """One line: a StockrnnError's own message, else the exception's type and message."""
    user_error = _user_error(err)
    text = str(user_error) if user_error is not None else f"{type(err).__name__}: {err}"
    return " ".join(text.split())


def _user_error(err: BaseException | None) -> StockrnnError | None:
    """The StockrnnError behind `err`, also when Hydra's instantiate wrapped it in its own."""
    while err is not None and not isinstance(err, StockrnnError):
        err = err.__cause__
    return err


def instantiate_all(group: DictConfig | None) -> list:
    """Instantiate each `_target_` node of a config group such as callbacks or logger."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node is not None and "_target_" in node]


class KeepFinishedRuns(Callback):
    """Hydra callback: stop a single run before Hydra rewrites the .hydra/ record of a finished
    run whose directory it was given again (train and eval repeat the check for sweep jobs)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        with user_errors_exit():
            refuse_finished_run_dir(Path(config.hydra.run.dir))
