"""Messages of Lightning and MLflow that say nothing about the run, kept out of every run's output."""

from __future__ import annotations

import logging
import warnings

# Printed by every Trainer that has no LitLogger: an advertisement, not a finding.
LITLOGGER_TIP = "try installing [litlogger]"
# Lightning 2.6 building a torch LeafSpec, which torch 2.13 deprecates; nothing a user can change.
LEAFSPEC_DEPRECATION = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
# Lightning's MLFlowLogger on the first run of a task: a new experiment is the normal case.
NEW_EXPERIMENT_NOTICE = "not found. Creating it."


class _DropMessage(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _drop(logger_name: str, text: str) -> None:
    """Idempotent: a logger's records that contain `text` are dropped."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, _DropMessage) and f.text == text for f in logger.filters):
        logger.addFilter(_DropMessage(text))


def silence_lightning_noise() -> None:
    """Idempotent. Lightning's other notices (devices found, SLURM hints) stay."""
    _drop("lightning.pytorch.utilities.rank_zero", LITLOGGER_TIP)
    warnings.filterwarnings("ignore", message=LEAFSPEC_DEPRECATION)


def silence_mlflow_notices() -> None:
    """Idempotent. MLflow's notices (creating its database, a run's link) and Lightning's warning
    that an experiment is new; MLflow's warnings and errors stay. MLflow logs through a handler of
    its own, so only its level can hide its notices."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    _drop("lightning.pytorch.loggers.mlflow", NEW_EXPERIMENT_NOTICE)
