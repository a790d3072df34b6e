"""How to go on with a stopped run: the command that resumes it from its last checkpoint, built
from the overrides Hydra recorded in the run's .hydra/overrides.yaml."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import NoReturn

from omegaconf import OmegaConf

from stockrnn.errors import INTERRUPTED

OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"


def run_dir_of(ckpt_path: str | Path) -> Path:
    """The run a checkpoint belongs to: checkpoints live in <run>/checkpoints/."""
    return Path(ckpt_path).expanduser().resolve().parent.parent


def train_command(run_dir: Path, ckpt_path: str | Path | None = None) -> str | None:
    """`python -m stockrnn.train <the run's overrides> [ckpt_path=...]`, shell-quoted; None when the
    run has no overrides.yaml (train(cfg) called without Hydra)."""
    file = run_dir / OVERRIDES_FILE
    if not file.is_file():
        return None
    overrides = [o for o in OmegaConf.to_container(OmegaConf.load(file))
                 if o.partition("=")[0].lstrip("+~") != "ckpt_path"]
    resume = [f"ckpt_path={ckpt_path}"] if ckpt_path is not None else []
    return shlex.join(["python", "-m", "stockrnn.train", *overrides, *resume])


def exit_interrupted(run_dir: Path) -> NoReturn:
    """After Ctrl-C stopped a fit: where the run is and the command that goes on with it."""
    last = run_dir / LAST_CHECKPOINT
    if last.is_file():
        what, command = "resume it with", train_command(run_dir, last)
        print(f"stockrnn: interrupted; the run is in {run_dir}, its last checkpoint {last}", file=sys.stderr)
    else:
        what, command = "run it again with", train_command(run_dir)
        print(f"stockrnn: interrupted before the first epoch ended; {run_dir} has no checkpoint", file=sys.stderr)
    if command is not None:
        print(f"{what}:\n{command}", file=sys.stderr)
    raise SystemExit(INTERRUPTED)
