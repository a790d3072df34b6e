"""File helpers with no heavy imports, so the report command starts without torch."""

from __future__ import annotations

import json
import os
from pathlib import Path

from stockrnn.errors import StockrnnError


def write_json_atomically(data: dict, path: Path) -> None:
    """A reader never sees a half-written file (metrics.json, error.json)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def refuse_finished_run_dir(output_dir: Path) -> None:
    """A run never writes into the directory of a finished one (a reused hydra.run.dir)."""
    if (output_dir / "metrics.json").exists():
        raise StockrnnError(
            f"{output_dir} already holds a finished run (metrics.json); not overwriting it. Choose a new "
            "hydra.run.dir (or hydra.sweep.dir), or leave it unset: each run then gets its own directory")
