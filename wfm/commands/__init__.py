"""Sub-commands of `wfm`; see wfm/cli.py for the table and the module contract."""
from __future__ import annotations

import argparse


class CliError(Exception):
    """A reported failure: one line on stderr and the exit code (1 rule/validation, 2 usage/input)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def load_config(args: argparse.Namespace):
    """The effective config for a command, or CliError(2) naming the file and key."""
    from wfm.config import ConfigError, load_config as _load

    try:
        return _load(getattr(args, "config", None))
    except ConfigError as exc:
        raise CliError(str(exc), 2) from None
