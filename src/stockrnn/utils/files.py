"""File helpers with no heavy imports, so the report command starts without torch."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_json_atomically(data: dict, path: Path) -> None:
    """A reader never sees a half-written file (metrics.json, error.json)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
