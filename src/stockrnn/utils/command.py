"""The decorator that makes a task function a stockrnn command: Hydra's main, with the command
line checked first and Ctrl-C ending in one line."""

from __future__ import annotations

import functools
import sys

import hydra
from omegaconf import DictConfig

from stockrnn.errors import INTERRUPTED
from stockrnn.utils.config import CONFIG_DIR
from stockrnn.utils.entry import user_errors_exit
from stockrnn.utils.overrides import check_command_line


def command(config_name: str):
    """`@hydra.main` for a stockrnn command. Before Hydra composes the config and makes the run
    directory, the command line's keys are checked (utils/overrides.py); Ctrl-C that reaches here
    (before training, or outside it) ends with one line and exit status 130."""

    def decorate(task):
        hydra_main = hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)(task)

        @functools.wraps(task)
        def main(cfg_passthrough: DictConfig | None = None):
            try:
                if cfg_passthrough is None:
                    with user_errors_exit():
                        check_command_line(CONFIG_DIR, config_name, sys.argv[1:])
                return hydra_main(cfg_passthrough)
            except KeyboardInterrupt:
                print("stockrnn: error: interrupted", file=sys.stderr)
                raise SystemExit(INTERRUPTED) from None

        return main

    return decorate
