"""`wfm ingest`: a raw PBX capture (or a live feed) → §1 floor events as JSON lines.

stdout holds one event per line. A skipped record is reported as
`FILE:LINE: skipped: why` on stderr, or with --json as a
{"type": "skipped", "line": N, ...} object on stdout. Exit 0 when every record
parsed, 1 when some were skipped, 2 on bad usage or an unreadable file.
"""
from __future__ import annotations

import argparse
import sys

from wfm.commands import CliError, load_config

PROTOCOL_CHOICES = ("ami", "esl", "sip", "serial")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", metavar="FILE", help="raw capture: the bytes exactly as the PBX sent them")
    parser.add_argument("--protocol", choices=PROTOCOL_CHOICES, help="feed protocol (default: the first feed's in the config)")
    parser.add_argument("--connect", metavar="HOST:PORT", help="read a live feed instead of a file")
    parser.add_argument("--max-events", type=int, metavar="N", help="with --connect: stop after N printed objects")
    parser.add_argument("--username", help="with --connect: login name (default: from the config's feed)")
    parser.add_argument("--secret", help="with --connect: secret (default: from the config's feed / its environment variable)")
    parser.add_argument("--agents", help="with --connect (SIP): comma-separated agents to subscribe to")
    parser.add_argument("--transport", choices=("udp", "tcp"), help="with --connect (SIP): transport (default udp)")
    parser.add_argument("--presence", action="store_true",
                        help="with --connect (SIP): also subscribe to presence (PIDF, RFC 4480 activities: meal, away, busy)")
    parser.add_argument("--profile", choices=("auto", "acd", "smdr"),
                        help="serial: line profile (default: the config's serial feed, else auto)")
    parser.add_argument("--no-reconnect", action="store_true",
                        help="with --connect: when the PBX goes away, exit 1 with a message instead of connecting again")
    parser.add_argument("--capture", metavar="PATH", help="with --connect: tee the raw bytes to PATH (receive times in PATH.times)")


class _Printer:
    """Writes events and skipped records; counts printed objects for --max-events."""

    def __init__(self, label: str | None, as_json: bool, max_events: int | None) -> None:
        from wfm.events import BadLine, encode_event

        self._badline = BadLine
        self._encode = encode_event
        self.label = label
        self.as_json = as_json
        self.max_events = max_events
        self.printed = 0
        self.skipped = 0
        self.out = sys.stdout.buffer

    def __call__(self, item) -> None:
        from telephony.ingest import MaxEventsReached

        if self.max_events is not None and self.printed >= self.max_events:
            raise MaxEventsReached()
        if isinstance(item, self._badline):
            self.skipped += 1
            if self.label is not None:
                item = self._badline(self.label, item.line, item.reason)
            if not self.as_json:
                sys.stderr.write(item.message() + "\n")
                sys.stderr.flush()
                return
            import json

            line = json.dumps(item.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        else:
            line = self._encode(item)
        self.out.write(line + b"\n")
        self.out.flush()
        self.printed += 1
        if self.max_events is not None and self.printed >= self.max_events:
            raise MaxEventsReached()


def _split_hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"--connect {text!r}: expected HOST:PORT", 2)
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    from telephony.ingest import LiveConnectError, LiveFeedLost, MaxEventsReached, ProtocolUnavailable, load_protocol
    from wfm.commands.feeds import fill_connect_arguments, settings_for

    config = load_config(args)
    protocol = args.protocol or (config.pbx.feeds[0].protocol if config.pbx.feeds else "ami")
    if args.connect and args.file:
        raise CliError("give either FILE or --connect HOST:PORT, not both", 2)
    if not args.connect and not args.file:
        raise CliError("give a capture FILE or --connect HOST:PORT", 2)
    if getattr(args, "profile", None) and protocol != "serial":
        raise CliError(f"--profile is for --protocol serial, not {protocol}", 2)
    if args.max_events is not None and args.max_events < 1:
        raise CliError("--max-events must be at least 1", 2)
    try:
        module = load_protocol(protocol)
    except ProtocolUnavailable as exc:
        raise CliError(str(exc), 2) from None

    if args.connect:
        if not hasattr(module, "live"):
            raise CliError(f"protocol {protocol!r} has no live --connect mode in this build", 2)
        args.connect_host, args.connect_port = _split_hostport(args.connect)
        fill_connect_arguments(args, config, protocol)
        printer = _Printer(None, args.json, args.max_events)
        import asyncio

        try:
            asyncio.run(module.live(args, settings_for(protocol, config), printer))
        except MaxEventsReached:
            pass
        except LiveConnectError as exc:
            raise CliError(str(exc), 2) from None
        except LiveFeedLost as exc:
            where = f"{args.connect_host}:{args.connect_port}"
            lost = str(exc) if where in str(exc) else f"{protocol} feed {where} lost: {exc}"  # always name the PBX
            raise CliError(f"{lost} (--no-reconnect)", 1) from None
        except KeyboardInterrupt:
            pass  # Ctrl-C is the normal way to stop a live ingest
        return 1 if printer.skipped else 0

    return _ingest_file(module, args, settings_for(protocol, config))


def _ingest_file(module, args: argparse.Namespace, settings) -> int:
    import inspect
    import os
    from datetime import datetime, timezone

    from telephony.capture import CaptureError, read_capture

    path = args.file
    try:
        stat = os.stat(path)
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}", 2) from None
    if not os.path.isfile(path):
        raise CliError(f"{path}: not a regular file", 2)
    printer = _Printer(path, args.json, None)
    kwargs = {}
    if "fallback_time" in inspect.signature(module.parse_capture).parameters:
        kwargs["fallback_time"] = datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc)
    if getattr(args, "profile", None):
        kwargs["profile"] = args.profile
    from tqdm import tqdm

    progress = tqdm(total=stat.st_size, unit="B", unit_scale=True, desc=os.path.basename(path), file=sys.stderr,
                    disable=None, leave=False)  # shown on a terminal only; stdout keeps only events

    def chunks():
        for chunk in read_capture(path):
            progress.update(len(chunk))
            yield chunk

    try:
        for item in module.parse_capture(chunks(), settings, path, **kwargs):
            printer(item)
    except CaptureError as exc:
        raise CliError(str(exc), 2) from None
    except BrokenPipeError:
        raise  # stdout closed by the reader (`| head`): not the input's fault; wfm.cli ends quietly
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}", 2) from None
    finally:
        progress.close()
    return 1 if printer.skipped else 0
