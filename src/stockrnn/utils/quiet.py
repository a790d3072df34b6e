"""Lightning's messages that say nothing about the run, kept out of every run's output."""

from __future__ import annotations

import logging
import warnings

# Printed by every Trainer that has no LitLogger: an advertisement, not a finding.
LITLOGGER_TIP = "try installing [litlogger]"
# Lightning 2.6 building a torch LeafSpec, which torch 2.13 deprecates; nothing a user can change.
LEAFSPEC_DEPRECATION = r"`isinstance\(treespec, LeafSpec\)` is deprecated"


class _DropLitLoggerTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return LITLOGGER_TIP not in record.getMessage()


def silence_lightning_noise() -> None:
    """Idempotent. Lightning's other notices (devices found, SLURM hints) stay."""
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropLitLoggerTip) for f in rank_zero.filters):
        rank_zero.addFilter(_DropLitLoggerTip())
    warnings.filterwarnings("ignore", message=LEAFSPEC_DEPRECATION)
