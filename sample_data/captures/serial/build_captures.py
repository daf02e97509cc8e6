"""Write the serial CTI sample captures: one port carrying both line formats of docs/pbx-mapping.md.

    .venv/bin/python sample_data/captures/serial/build_captures.py

mixed_feed.txt: generic ACD text lines and Avaya IP Office SMDR CSV records
(30 fields: Call Start, Connected Time, Ring Time, Caller, Direction, Called
Number, Dialled Number, Account, Is Internal, Call ID, Continuation,
Party1Device, Party1Name, Party2Device, Party2Name, Hold Time, Park Time,
Authorization Valid, Authorization Code, User Charged, Call Charge, Currency,
Amount at Last User Change, Call Units, Units at Last User Change, Cost per
Unit, Mark Up, External Targeting Cause, External Targeter Id, External
Targeted Number), CRLF line ends as a line printer port sends them.
noisy_feed.txt: the same with line noise, truncated lines and an over-long
line mixed in. Expected §1 output: *.expected.jsonl
(`wfm ingest --protocol serial FILE --json`).
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def smdr(start: str, connected: str, ring: int, caller: str, direction: str, called: str, call_id: int,
         party1: str, party1_name: str, party2: str, party2_name: str) -> str:
    fields = [start, connected, str(ring), caller, direction, called, called, "", "0", str(call_id), "0",
              party1, party1_name, party2, party2_name, "0", "0",
              "n", "", "", "0.00", "", "0.00", "0", "0", "0.00", "100", "", "", ""]
    assert len(fields) == 30
    return ",".join(fields)


def mixed_lines() -> list[str]:
    return [
        "2027-01-04 08:26:40 AGENT 1001 LOGIN",
        "2027-01-04 08:27:05 AGENT 1001 READY",
        "2027-01-04 08:27:30 AGENT 1002 LOGIN",
        "2027-01-04 08:27:31 AGENT 1002 READY",
        "2027-01-04 08:30:00 QUEUE 8001 WAITING 1",
        "2027-01-04 08:30:01 AGENT 1002 RING 8001",
        "2027-01-04 08:30:06 AGENT 1002 ACDIN 8001",
        "2027-01-04 08:30:06 QUEUE 8001 WAITING 0",
        "2027-01-04 08:33:11 AGENT 1002 ACW",
        smdr("2027/01/04 08:30:00", "00:03:05", 6, "13800138000", "I", "8001", 1000012, "E1002", "李娜", "T9001", "Line 1.1"),
        "2027-01-04 08:33:31 AGENT 1002 READY",
        "2027-01-04 08:40:00 AGENT 1001 AUX 1",
        "2027-01-04 08:47:30 AGENT 1001 READY",
        smdr("2027/01/04 08:50:00", "00:00:00", 25, "13900139000", "I", "8001", 1000013, "", "", "T9002", "Line 1.2"),
        "2027-01-04 11:30:00 AGENT 1002 AUX 2",
        "2027-01-04 12:00:00 AGENT 1002 READY",
        "2027-01-04 12:05:00 AGENT 1001 AUX 7",
        smdr("2027/01/04 12:10:00", "00:01:00", 0, "1001", "O", "013911112222", 1000014, "E1001", "王伟", "T9003", "Line 1.3"),
        "2027-01-04 16:02:00 AGENT 1001 LOGOUT",
    ]


def noisy_lines() -> list[bytes]:
    lines = [line.encode() for line in mixed_lines()]
    noise = [
        (2, b"\x00\xff\xfe~~\x13"),  # line noise: not UTF-8
        (5, b"2027-01-04 08:29:59 AGENT 10"),  # cut off mid-line
        (10, smdr("2027/01/04 08:31:00", "00:01:00", 3, "1", "I", "8001", 1, "E1001", "x", "T1", "L").encode()[:60]),
        (12, b"hello \x07 there"),  # control characters
        (14, b"9" * 3000),  # a line end lost in noise: over-long
        (16, b"2027-01-04 11:29:00 AGENT 1002 DANCE"),  # unknown verb
    ]
    for at, junk in reversed(noise):
        lines.insert(at, junk)
    return lines


if __name__ == "__main__":
    (HERE / "mixed_feed.txt").write_bytes("".join(line + "\r\n" for line in mixed_lines()).encode("utf-8"))
    (HERE / "noisy_feed.txt").write_bytes(b"".join(line + b"\r\n" for line in noisy_lines()))
