"""`wfm log verify | export | follow | checkpoint | keygen`: the tamper-evident event log (rule L1).

    wfm log verify [--db URL] [--json] [--anchor SEQ:HASH|FILE ...] [--public-key PEM ...]
    wfm log checkpoint --export          (the latest signed checkpoint, one JSON line, to keep elsewhere)
    wfm log keygen PRIVATE.pem           (an Ed25519 pair for storage.signing_key_file; PRIVATE.pub.pem beside it)
    wfm log export --since TS --until TS --format jsonl|csv --out FILE [--kinds event,decision]
    wfm log follow [--after-seq N] [--kinds K,K] [--max-records N] [--json]

The log is the config's `storage.url` (default sqlite:///data/wfm.sqlite,
relative to the working directory) unless `--db URL` names another. The log
is opened read-only: verifying never creates, repairs or re-arms anything.
`verify` exits 0 when the chain holds and 1 with "first bad record: seq N:
<reason>" when it does not; it prints the head hash, which an operator can
note elsewhere and pass back later as `--anchor SEQ:HASH` to catch even a
chain rewritten with recomputed hashes. With `--public-key` every signed checkpoint
(wfm/eventlog/signing.py) must verify and still match the chain, so a rewrite
with recomputed hashes fails without any note kept by hand; an exported
checkpoint given as `--anchor FILE` also catches a cut tail. Timestamps are RFC 3339; a date or a time
without offset is read in the floor's zone (floor.timezone).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, time

from wfm.commands import CliError, load_config

CSV_COLUMNS = ["seq", "ts", "kind", "type", "agent", "body", "prev_hash", "hash"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("verify", "walk the hash chain and name the first bad record"),
                       ("export", "write the records of a time range as JSON lines or CSV"),
                       ("follow", "print records as they are committed, by any process, until Ctrl-C"),
                       ("checkpoint", "print the latest signed checkpoint (--export) to keep outside this host"),
                       ("keygen", "make an Ed25519 key pair for signing checkpoints")):
        sub = actions.add_parser(name, help=text, description=text)
        sub.add_argument("--db", metavar="URL", help="log URL (sqlite:///file.sqlite or postgresql://...); default storage.url")
        # Common flags again so they work after the action too (wfm log verify --json).
        sub.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="site TOML merged over the shipped defaults")
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine output on stdout (JSON only)")
        if name == "verify":
            sub.add_argument("--anchor", metavar="SEQ:HASH|FILE", action="append", default=[],
                             help="a record hash noted earlier, or a file from `wfm log checkpoint --export`; repeatable")
            sub.add_argument("--public-key", metavar="PEM", action="append", default=[],
                             help="check every signed checkpoint with this Ed25519 public key; repeat for rotated keys")
        if name == "checkpoint":
            sub.add_argument("--export", action="store_true", help="print the latest signed checkpoint as one JSON line")
        if name == "keygen":
            sub.add_argument("out", metavar="PRIVATE.pem", help="where to write the private key (mode 0600); "
                                                                 "the public key goes to PRIVATE.pub.pem")
        if name == "follow":
            sub.add_argument("--after-seq", type=int, metavar="N", help="start after record N (default: only new records)")
            sub.add_argument("--kinds", metavar="K,K", help="only these record kinds (event, decision, action, audit)")
            sub.add_argument("--max-records", type=int, metavar="N", help="stop after N records")
        if name == "export":
            sub.add_argument("--since", metavar="TS", help="first instant included (RFC 3339, or a date / local time in the floor zone)")
            sub.add_argument("--until", metavar="TS", help="first instant excluded")
            sub.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
            sub.add_argument("--out", metavar="FILE", default="-", help="output file ('-' = stdout, the default)")
            sub.add_argument("--kinds", metavar="K,K", help="only these record kinds (event, decision, action, audit)")


def parse_instant(text: str, tz, flag: str) -> datetime:
    """RFC 3339 as given; a date or an offset-less time is local to the floor zone."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CliError(f"{flag} {text!r}: not a timestamp (want e.g. 2027-01-04T08:00:00+08:00 or 2027-01-04)", 2) from None
    if len(raw) == 10:  # a bare date: that day's midnight on the floor
        value = datetime.combine(value.date(), time(0), tz)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


def _open(args: argparse.Namespace, config):
    from wfm.eventlog import EventLogError, open_log_from_config

    try:
        return open_log_from_config(config, args.db, readonly=True)
    except EventLogError as exc:
        raise CliError(str(exc), 2) from None


def _progress(total: int | None, desc: str):
    from tqdm import tqdm

    # Small logs finish before a bar is worth drawing; big ones show progress on stderr.
    return tqdm(total=total, desc=desc, unit="rec", file=sys.stderr,
                disable=None if (total is None or total >= 50_000) else True, leave=False)


def run(args: argparse.Namespace) -> int:
    from wfm.eventlog import EventLogError

    config = load_config(args)
    if args.action == "keygen":
        return _keygen(args)
    log = _open(args, config)
    try:
        if args.action == "verify":
            return _verify(args, log, config)
        if args.action == "checkpoint":
            return _checkpoint(args, log)
        if args.action == "follow":
            return _follow(args, log, config)
        return _export(args, log, config)
    except EventLogError as exc:
        raise CliError(str(exc), 2) from None
    finally:
        log.close()


def parse_anchors(values: list[str]) -> tuple[dict[int, str], list[dict]]:
    """(seq -> hash, exported checkpoints) from --anchor values: SEQ:HASH, or a file of `checkpoint --export`."""
    anchors: dict[int, str] = {}
    exported: list[dict] = []
    for value in values:
        seq, _, digest = value.partition(":")
        if seq.strip().isdigit() and len(digest.strip()) == 64 and all(c in "0123456789abcdefABCDEF" for c in digest.strip()):
            anchors[int(seq)] = digest.strip().lower()
            continue
        try:
            with open(value, encoding="utf-8") as handle:
                data = json.loads(handle.readline())
        except OSError as exc:
            raise CliError(f"--anchor {value!r}: want SEQ:HASH (a record number and its 64-hex-digit hash) "
                           f"or a file from `wfm log checkpoint --export` ({exc.strerror})", 2) from None
        except ValueError:
            raise CliError(f"--anchor {value}: line 1: not the JSON of `wfm log checkpoint --export`", 2) from None
        fields = ("seq", "hash", "covers_seq", "covers_hash")
        if not isinstance(data, dict) or not all(k in data for k in fields) \
                or not isinstance(data["seq"], int) or not isinstance(data["covers_seq"], int):
            raise CliError(f"--anchor {value}: line 1: missing {', '.join(k for k in fields if k not in (data or {}))}", 2)
        anchors[data["seq"]] = str(data["hash"]).lower()
        anchors[data["covers_seq"]] = str(data["covers_hash"]).lower()
        exported.append(data)
    return anchors, exported


def _verify(args: argparse.Namespace, log, config) -> int:
    from wfm.eventlog import VerifyResult
    from wfm.eventlog.signing import SigningKeyError, load_public_keys, signature_problem

    anchors, exported = parse_anchors(args.anchor)
    try:
        keys = load_public_keys(args.public_key)
    except SigningKeyError as exc:
        raise CliError(f"--public-key {exc}", 2) from None
    result = None
    if keys:
        for data in exported:  # an exported checkpoint is only as good as its signature
            problem = signature_problem(data, keys)
            if problem is not None:
                result = VerifyResult(ok=False, records=0, first_bad_seq=data["seq"],
                                      reason=f"exported checkpoint (--anchor): {problem}")
    if result is None:
        bar = _progress(log.count(), "verify")
        with bar:
            if keys:
                storage = config.storage
                # a crash leaves up to one interval unsigned, and the restart's own first one follows
                max_unsigned = 4 * (storage.checkpoint_every_records + storage.batch_max_records)
                result = log.verify_signed(keys, anchors=anchors, max_unsigned=max_unsigned, progress=bar.update)
            else:
                result = log.verify(progress=bar.update, anchors=anchors)
    signed = f", checkpoints checked with key {', '.join(sorted(keys))}" if keys and result.ok else ""
    if getattr(args, "json", False):
        data = {"log": log.url_for_humans(), "ok": result.ok, "records": result.records,
                "first_bad_seq": result.first_bad_seq, "reason": result.reason, "last_hash": result.last_hash}
        if keys:
            data["public_keys"] = sorted(keys)
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        sys.stdout.write(f"{log.url_for_humans()}: {result.message()}{signed}\n")
    if not result.ok:
        if not getattr(args, "json", False):
            print(f"wfm log verify: {log.url_for_humans()}: {result.message()}", file=sys.stderr)
        return 1
    return 0


def _checkpoint(args: argparse.Namespace, log) -> int:
    from wfm.eventlog.signing import is_checkpoint

    if not args.export:
        raise CliError("wfm log checkpoint: say --export (print the latest signed checkpoint)", 2)
    latest = None
    for record in log.read(kinds=["audit"]):
        if is_checkpoint(record.kind, record.body):
            latest = record
    if latest is None:
        raise CliError(f"{log.url_for_humans()}: no signed checkpoint yet (is storage.signing_key_file set?)", 1)
    body = latest.body
    sys.stdout.write(json.dumps({"log": log.url_for_humans(), "seq": latest.seq, "hash": latest.hash,
                                 "covers_seq": body["covers_seq"], "covers_hash": body["covers_hash"],
                                 "key_id": body.get("key_id"), "signed_at": body.get("signed_at"),
                                 "signature": body.get("signature")}, ensure_ascii=False) + "\n")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from wfm.eventlog.signing import generate_private_pem, load_signer

    out = Path(args.out)
    if out.exists():
        raise CliError(f"{out}: exists; refusing to overwrite a signing key", 2)
    pem = generate_private_pem()
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        signer = load_signer(str(out))
        if signer is None:  # never: given a path, load_signer reads the key or raises
            raise CliError(f"{out}: the key just written could not be read back", 2)
        public = out.with_name(out.name.removesuffix(".pem") + ".pub.pem")
        public.write_text(signer.public_pem(), encoding="ascii")
    except OSError as exc:
        raise CliError(f"{out}: cannot write: {exc.strerror}", 2) from None
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"private_key": str(out), "public_key": str(public), "key_id": signer.key_id}) + "\n")
    else:
        sys.stdout.write(f"key {signer.key_id}: private {out} (keep it off the data folder), public {public}\n")
    return 0


def _parse_kinds(text: str | None) -> list[str] | None:
    from wfm.eventlog import KINDS

    if not text:
        return None
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise CliError(f"--kinds: unknown kind {unknown[0]!r} (use {', '.join(KINDS)})", 2)
    return kinds


def _follow(args: argparse.Namespace, log, config) -> int:
    import asyncio

    import msgspec

    kinds = set(_parse_kinds(args.kinds) or ())
    tz = config.floor.tz
    encoder = msgspec.json.Encoder()
    as_json = getattr(args, "json", False)

    async def follow() -> None:
        shown = 0
        async for record in log.follow(after_seq=args.after_seq):
            if kinds and record.kind not in kinds:
                continue
            local_ts = record.ts.astimezone(tz).isoformat()
            if as_json:
                line = encoder.encode({"seq": record.seq, "ts": local_ts, "kind": record.kind, "body": record.body,
                                       "prev_hash": record.prev_hash, "hash": record.hash}).decode("utf-8")
            else:
                body = record.body
                line = (f"{record.seq:>8} {local_ts} {record.kind:<8} {body.get('type', '')} {body.get('agent') or ''} "
                        f"{encoder.encode(body).decode('utf-8')}")
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            shown += 1
            if args.max_records is not None and shown >= args.max_records:
                return

    asyncio.run(follow())
    return 0


def _export(args: argparse.Namespace, log, config) -> int:
    import csv

    import msgspec

    tz = config.floor.tz
    since = parse_instant(args.since, tz, "--since") if args.since else None
    until = parse_instant(args.until, tz, "--until") if args.until else None
    if since is not None and until is not None and until <= since:
        raise CliError(f"--until {args.until} is not after --since {args.since}", 2)
    kinds = _parse_kinds(args.kinds)
    to_stdout = args.out == "-"
    if to_stdout and getattr(args, "json", False) is True and args.format == "csv":
        raise CliError("--json with CSV on stdout would mix formats; give --out FILE", 2)
    total = log.count(since, until, kinds)
    encoder = msgspec.json.Encoder()
    try:
        handle = sys.stdout if to_stdout else open(args.out, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise CliError(f"{args.out}: cannot write: {exc.strerror}", 2) from None
    written = 0
    try:
        writer = csv.writer(handle) if args.format == "csv" else None
        if writer is not None:
            writer.writerow(CSV_COLUMNS)
        with _progress(total, "export") as bar:
            for record in log.read(since=since, until=until, kinds=kinds):
                local_ts = record.ts.astimezone(tz).isoformat()
                if writer is not None:
                    body = record.body
                    writer.writerow([record.seq, local_ts, record.kind, body.get("type", ""), body.get("agent") or "",
                                     encoder.encode(body).decode("utf-8"), record.prev_hash, record.hash])
                else:
                    handle.write(encoder.encode({"seq": record.seq, "ts": local_ts, "kind": record.kind,
                                                 "body": record.body, "prev_hash": record.prev_hash,
                                                 "hash": record.hash}).decode("utf-8") + "\n")
                written += 1
                bar.update(1)
    except OSError as exc:
        raise CliError(f"{args.out}: write failed after {written} records: {exc.strerror}", 2) from None
    finally:
        if not to_stdout:
            handle.close()
    summary = {"exported": written, "format": args.format, "out": args.out,
               "since": since.isoformat() if since else None, "until": until.isoformat() if until else None}
    if not to_stdout:
        if getattr(args, "json", False):
            sys.stdout.write(json.dumps(summary) + "\n")
        else:
            sys.stdout.write(f"exported {written} records to {args.out}\n")
    else:
        print(f"exported {written} records", file=sys.stderr)
    return 0
