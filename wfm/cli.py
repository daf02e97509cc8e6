"""`wfm` command line: a table of sub-commands, each imported only when chosen.

Each sub-command lives in `wfm/commands/<name>.py` and offers
`add_arguments(parser)` and `run(args) -> int`; heavy imports stay inside
`run` so that `wfm replay` of a small file answers in about a second.
Exit codes: 0 success, 1 a rule or validation failure reported, 2 bad usage
or bad input (one line naming the file and line).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from wfm.commands import CliError

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("wfm.commands.demo", "run the whole system on embedded defaults (simulated PBX floor)"),
    "serve": ("wfm.commands.serve", "run against the PBX feeds in the config"),
    "replay": ("wfm.commands.replay", "replay JSON-lines floor events through the rules on a virtual clock"),
    "ingest": ("wfm.commands.ingest", "parse a raw PBX capture (or a live feed) into floor events"),
    "simulate": ("wfm.commands.simulate", "write a simulated floor day as JSON-lines events"),
    "staffing": ("wfm.commands.staffing", "Erlang C/A staffing for an interval or a CSV of intervals"),
    "forecast": ("wfm.commands.forecast", "30-min interval forecast from call history"),
    "roster": ("wfm.commands.roster", "build next month's roster with CP-SAT"),
    "check-roster": ("wfm.commands.check_roster", "independent rule check of any roster.csv"),
    "swap": ("wfm.commands.swap", "apply an approved shift swap as a new roster version"),
    "nrp": ("wfm.commands.nrp", "solve a Curtois nurse-rostering benchmark instance"),
    "log": ("wfm.commands.log", "verify or export the tamper-evident event log"),
    "config": ("wfm.commands.config", "show the effective configuration"),
    "user": ("wfm.commands.user", "add, re-password, disable or list accounts (the users file)"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wfm",
        description="Call-centre floor monitoring and workforce management.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {name:<13} {text}" for name, (_, text) in COMMANDS.items()),
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND")
    return parser


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="site TOML merged over the shipped defaults")
    parser.add_argument("--json", action="store_true", help="machine output on stdout (JSON only)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr")


def _common_first(argv: list[str]) -> list[str]:
    """`wfm --config X --json replay F` means `wfm replay F --config X --json`: §3 options every command
    takes may also come before the command name."""
    leading: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--config" and i + 1 < len(argv):
            leading += argv[i:i + 2]
            i += 2
        elif arg.startswith("--config=") or arg in ("--json", "-v", "-vv", "--verbose"):
            leading.append(arg)
            i += 1
        else:
            break
    if not leading or i >= len(argv):
        return argv
    return [argv[i], *leading, *argv[i + 1:]]


def main(argv: list[str] | None = None) -> int:
    argv = _common_first(list(sys.argv[1:] if argv is None else argv))
    if not argv or argv[0] in ("-h", "--help"):
        _top_parser().print_help()
        return 0 if argv else 2
    name = argv[0]
    if name not in COMMANDS:
        _top_parser().parse_args(argv[:1])  # prints the usage error, exits 2
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"wfm {name}", description=COMMANDS[name][1])
    add_common(parser)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(module.run(args) or 0)
    except CliError as exc:
        print(f"wfm {name}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader closed stdout (`wfm … | head`): stop quietly
        try:
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit flush
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
