"""`wfm swap`: apply an approved shift swap (R7) as a new roster version; the old one is withdrawn."""
from __future__ import annotations

import argparse
import json
import sys

from wfm.commands import CliError, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--roster-dir", required=True, metavar="DIR", help="folder written by wfm roster --out")
    parser.add_argument("--a", required=True, metavar="AGENT", help="first agent (agrees to the swap)")
    parser.add_argument("--b", required=True, metavar="AGENT", help="second agent (agrees to the swap)")
    parser.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="day whose lines are exchanged")
    parser.add_argument("--date2", metavar="YYYY-MM-DD", help="second day exchanged (A and B trade shifts across two days)")
    parser.add_argument("--approved-by", required=True, metavar="MANAGER", help="approving manager (a configured supervisor/scheduler/admin)")


def _day(text: str, flag: str):
    from datetime import date

    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise CliError(f"{flag}: {text!r} is not YYYY-MM-DD", 2) from None


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from optimizer.roster.io import RosterInputError
    from optimizer.publish import republish
    from optimizer.roster.swaps import SwapRequest, apply_swap
    from optimizer.roster.versions import VersionError

    config = load_config(args)
    if not (Path(args.roster_dir) / "versions" / "index.json").exists():
        raise CliError(f"{args.roster_dir}: no roster versions here (run wfm roster --out {args.roster_dir} first)", 2)
    request = SwapRequest(agent_a=args.a, agent_b=args.b, day=_day(args.date, "--date"),
                          day2=_day(args.date2, "--date2") if args.date2 else None, approved_by=args.approved_by)
    try:
        outcome = apply_swap(args.roster_dir, request, config)
        if outcome.applied:
            republish(args.roster_dir, config)
    except RosterInputError as exc:
        raise CliError(str(exc), 2) from None
    except VersionError as exc:
        raise CliError(f"{args.roster_dir}: {exc}", 1) from None
    if args.json:
        sys.stdout.write(json.dumps(outcome.to_dict(), ensure_ascii=False) + "\n")
    elif outcome.applied:
        print(f"swap applied: version {outcome.version} published, the previous version withdrawn")
        for change in outcome.changes:
            print(f"  {change['agent_id']} {change['date']}: {change['before'] or '-'} → {change['after'] or '-'}")
    else:
        print("swap refused:")
        for refusal in outcome.refusals:
            print(f"  {refusal.rule}: {refusal.detail}")
    return 0 if outcome.applied else 1
