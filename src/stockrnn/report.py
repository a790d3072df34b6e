"""Rebuild a sweep's summary from its job directories (also of a sweep that crashed or still runs):

    python -m stockrnn.report SWEEP_DIR

and the Hydra callback that writes the same summary when a multirun ends.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from stockrnn.errors import StockrnnError
from stockrnn.outputs.summary import job_dirs, markdown, write_summary
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


def check_sweep_dir(sweep_dir: Path) -> None:
    """Refuse, before anything is written, a directory that is no multirun: a single run, or a
    directory of single runs such as outputs/train/runs (Hydra records each run's mode)."""
    expected = ("expected a multirun directory with job directories <n>/.hydra/overrides.yaml "
                "(the sweep directory a -m run prints)")
    if (sweep_dir / ".hydra" / "overrides.yaml").is_file():
        raise StockrnnError(f"{sweep_dir} is a single run, not a sweep; {expected}")
    single_runs = [d.name for d in job_dirs(sweep_dir) if hydra_mode(d) == "RUN"]
    if single_runs:
        raise StockrnnError(f"{sweep_dir} is not a sweep: {len(single_runs)} of its directories are single "
                            f"runs (e.g. {single_runs[0]}); {expected}")


def hydra_mode(job_dir: Path) -> str | None:
    """RUN or MULTIRUN, as the run's .hydra/hydra.yaml records it (None: not recorded)."""
    try:
        return yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["mode"]
    except (OSError, TypeError, KeyError, yaml.YAMLError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stockrnn.report", description="Rebuild summary.csv, summary.md and summary.png of a sweep.")
    parser.add_argument("sweep_dir", type=Path, help="the multirun's directory (hydra.sweep.dir)")
    args = parser.parse_args(argv)
    with user_errors_exit():
        check_sweep_dir(args.sweep_dir)
        summary = write_summary(args.sweep_dir)
    print(markdown(summary, args.sweep_dir, limit=SHOWN_ROWS))
    print(f"written: {', '.join(str(args.sweep_dir / name) for name in ('summary.csv', 'summary.md', 'summary.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
