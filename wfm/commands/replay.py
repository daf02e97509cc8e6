"""`wfm replay EVENTS.jsonl [--config wfm.toml] [--json] [--compare-policy A.toml B.toml]`.

Replays §1 floor events through the rules engine on a virtual clock (the
events' `ts`; never the wall clock) and prints the §2 records in event order:
with --json one compact JSON object per line (the key order of
wfm/decisions.py), byte-identical on every run; otherwise one line of human
text per record and a summary.

Time: the engine advances to each event's `ts` before applying it, so a
timed finding (an overrun, a late sign-in, an empty post) is stamped with
the `ts` of the first event after its limit; nothing is emitted after the
last event (the file's clock stops there). Input order is the order: an
event older than the previous one is applied at the later clock time.

Bad lines (not JSON, a missing key, a bad value) are reported on stderr as
`FILE:LINE: skipped: why` and skipped; every other line is replayed.
Exit codes: 0 every line replayed; 1 some lines were skipped (reported);
2 bad usage, a missing/unreadable file or a bad config (one line naming it).
Findings are the replay's output, not a failure: they never change the code.
"""
from __future__ import annotations

import argparse
import sys

from wfm.commands import CliError, load_config

PROGRESS_MIN_BYTES = 4 * 1024 * 1024  # a progress bar on stderr for files from this size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("events", metavar="EVENTS.jsonl", help="JSON-lines floor events (docs/interfaces.md §1); - for stdin")
    parser.add_argument("--compare-policy", nargs=2, metavar=("A.toml", "B.toml"),
                        help="replay under two configs (gate policies) and compare them side by side")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _open(path: str):
    if path == "-":
        return sys.stdin.buffer, 0
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except FileNotFoundError:
        raise CliError(f"{path}: no such file", 2) from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory", 2) from None
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}", 2) from None
    import os

    return handle, os.fstat(handle.fileno()).st_size


def _without_bom(lines):
    """A UTF-8 byte-order mark (files saved by Windows editors) is not part of the first event."""
    first = True
    for line in lines:
        if first and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        first = False
        yield line


def _lines(handle, size: int, show_progress: bool):
    """Raw lines, with a byte-counting tqdm bar on stderr for big files."""
    if not show_progress or size < PROGRESS_MIN_BYTES:
        yield from _without_bom(handle)
        return
    from tqdm import tqdm

    with tqdm(total=size, unit="B", unit_scale=True, desc="replay", file=sys.stderr, leave=False) as bar:
        for line in _without_bom(handle):
            bar.update(len(line))
            yield line


def read_file(path: str, show_progress: bool = True):
    """Events and BadLines of a file (CliError(2) when it cannot be opened)."""
    from wfm.events import read_events

    handle, size = _open(path)
    source = "<stdin>" if path == "-" else path
    try:
        yield from read_events(_lines(handle, size, show_progress), source=source)
    except OSError as exc:
        raise CliError(f"{source}: read error: {exc.strerror}", 2) from None
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def human(output) -> str:
    """One §2 record as a line of text for a supervisor."""
    ts = output.ts.isoformat()
    kind = type(output).__name__
    if kind == "BreakDecision":
        verdict = "ALLOWED" if output.allowed else f"REFUSED {output.rule}"
        label = "short break 小休" if output.kind.value == "short" else "meal 用餐"
        window = f" (next window {output.next_window.isoformat()})" if output.next_window else ""
        return f"{ts}  decision   {output.agent}  {label}  {verdict}: {output.detail}{window}"
    if kind == "Violation":
        who = output.agent if output.agent is not None else "(floor)"
        return f"{ts}  violation  {who}  {output.rule}: {output.detail}"
    return f"{ts}  alert      {output.rule}: {output.detail}"


def run(args: argparse.Namespace) -> int:
    if args.compare_policy:
        return _compare(args)
    from wfm.decisions import BreakDecision, Violation, encode_output
    from wfm.engine import FloorEngine
    from wfm.events import BadLine

    config = load_config(args)
    engine = FloorEngine(config)
    out = sys.stdout.buffer
    write = out.write
    skipped = events = decisions = refused = violations = alerts = 0
    progress = not args.no_progress
    for item in read_file(args.events, progress):
        if isinstance(item, BadLine):
            skipped += 1
            sys.stderr.write(item.message() + "\n")
            continue
        events += 1
        outputs = engine.handle(item).outputs
        for output in outputs:
            if args.json:
                write(encode_output(output) + b"\n")
            else:
                write((human(output) + "\n").encode("utf-8"))
            if isinstance(output, BreakDecision):
                decisions += 1
                refused += not output.allowed
            elif isinstance(output, Violation):
                violations += 1
            else:
                alerts += 1
    if not args.json:
        write((f"{events} events replayed, {skipped} lines skipped: {decisions} break decisions "
               f"({decisions - refused} allowed, {refused} refused), {violations} violations, "
               f"{alerts} alerts\n").encode())
    out.flush()
    return 1 if skipped else 0


def _compare(args: argparse.Namespace) -> int:
    import json

    from wfm.config import ConfigError, load_config as load
    from wfm.events import BadLine
    from wfm.counterfactual import compare_policies

    configs = {}
    for path in args.compare_policy:
        try:
            configs[path] = load(path)
        except ConfigError as exc:
            raise CliError(str(exc), 2) from None
    events, skipped = [], 0
    for item in read_file(args.events, not args.no_progress):
        if isinstance(item, BadLine):
            skipped += 1
            sys.stderr.write(item.message() + "\n")
        else:
            events.append(item)
    report = compare_policies(events, configs)
    if args.json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, sort_keys=False) + "\n")
    else:
        sys.stdout.write(format_comparison(report))
    return 1 if skipped else 0


def format_comparison(report: dict) -> str:
    rows = [
        ("gate policy", "gate"),
        ("break decisions", "decisions"),
        ("granted", "granted"),
        ("  of which from the break queue", "granted_from_queue"),
        ("refused", "refused"),
        ("break minutes taken (model)", "break_minutes"),
        ("service level (model)", "service_level"),
        ("violations", "violations"),
    ]
    policies = report["policies"]
    names = [p["config"] for p in policies]
    width = max(len(label) for label, _ in rows) + 2
    col = max(14, *(len(n) + 2 for n in names))
    lines = ["".ljust(width) + "".join(n.rjust(col) for n in names)]
    for label, key in rows:
        cells = []
        for p in policies:
            value = p[key]
            if key == "service_level":
                cells.append("-" if value is None else f"{value:.1%}")
            elif isinstance(value, float):
                cells.append(f"{value:.1f}")
            else:
                cells.append(str(value))
        lines.append(label.ljust(width) + "".join(c.rjust(col) for c in cells))
    lines.append("")
    lines.append("model: " + report["model"])
    return "\n".join(lines) + "\n"
