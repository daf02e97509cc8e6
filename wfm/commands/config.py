"""`wfm config show`: the effective configuration (secrets masked)."""
from __future__ import annotations

import argparse
import json
import sys

from wfm.commands import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["show"], help="show the effective config")


def run(args: argparse.Namespace) -> int:
    import tomli_w

    from wfm.config import to_data

    data = to_data(load_config(args))
    if args.json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(tomli_w.dumps(data))
    return 0
