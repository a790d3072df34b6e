"""What every entry point shares: user errors become a short message and a non-zero exit."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.utils import instantiate
from omegaconf import DictConfig

from stockrnn.errors import StockrnnError


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
        from stockrnn.run_outputs import refuse_finished_run_dir  # heavy imports: only when it runs

        with user_errors_exit():
            refuse_finished_run_dir(Path(config.hydra.run.dir))
