"""Rebuild a sweep's summary from its job directories (also of a sweep that crashed or still runs):

    python -m stockrnn.report SWEEP_DIR

and the Hydra callback that writes the same summary when a multirun ends.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from stockrnn.summary import markdown, write_summary
from stockrnn.utils.entry import user_errors_exit

log = logging.getLogger(__name__)
SHOWN_ROWS = 20  # printed by the command; the files hold every job


class SweepSummary(Callback):
    """Writes the sweep's summary when a multirun ends, and makes the command's exit status 1
    when a job failed (the jobs themselves end normally, so that the sweep goes on)."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        summary = write_summary(sweep_dir)
        log.info("%s; summary in %s (summary.md, summary.csv, summary.png)", summary.describe(), sweep_dir)
        if summary.n_not_ok:
            print(f"stockrnn: error: {summary.n_not_ok} of {len(summary.jobs)} jobs failed; "
                  f"see {sweep_dir / 'summary.md'}", file=sys.stderr)
            # SystemExit passes Hydra's callback guard (it only catches Exception) and ends the command.
            raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stockrnn.report", description="Rebuild summary.csv, summary.md and summary.png of a sweep.")
    parser.add_argument("sweep_dir", type=Path, help="the multirun's directory (hydra.sweep.dir)")
    args = parser.parse_args(argv)
    with user_errors_exit():
        summary = write_summary(args.sweep_dir)
    print(markdown(summary, args.sweep_dir, limit=SHOWN_ROWS))
    print(f"written: {', '.join(str(args.sweep_dir / name) for name in ('summary.csv', 'summary.md', 'summary.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
