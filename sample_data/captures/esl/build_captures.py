"""Write the ESL sample captures: what FreeSWITCH 1.10 mod_event_socket sends an inbound client.

Framing and field names follow the FreeSWITCH event-socket and mod_callcenter
documentation: `auth/request`, `command/reply`, `api/response` bodies of
`callcenter_config tier list` / `agent list` / `queue list` /
`queue list members`, and `text/event-plain` CUSTOM `callcenter::info` events
(URL-encoded values, `Event-Date-Timestamp` in microseconds).

    .venv/bin/python sample_data/captures/esl/build_captures.py

rewrites callcenter.esl (clean floor morning) and callcenter_bad.esl (the same
with a garbage block, a bad event and a body cut off at the end). The expected
§1 output of each sits next to it as *.expected.jsonl
(`wfm ingest --protocol esl FILE --json`).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
BASE_US = 1_799_022_420_000_000  # 2027-01-04 08:27:00 +08:00
QUEUE = "support@default"
sequence = [4500]


def frame(headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    head = "".join(f"{k}: {v}\n" for k, v in headers)
    if body:
        head += f"Content-Length: {len(body)}\n"
    return head.encode() + b"\n" + body


def api(body: str) -> bytes:
    return frame([("Content-Type", "api/response")], body.encode())


def reply(text: str) -> bytes:
    return frame([("Content-Type", "command/reply"), ("Reply-Text", text)])


def cc_event(offset_s: float, fields: list[tuple[str, str]]) -> bytes:
    sequence[0] += 1
    stamp = BASE_US + int(offset_s * 1_000_000)
    headers = [
        ("Event-Name", "CUSTOM"),
        ("Core-UUID", "6d9f1c2e-8a4b-11ee-9a6f-525400a1b2c3"),
        ("FreeSWITCH-Hostname", "fs1.floor.example"),
        ("FreeSWITCH-Switchname", "fs1"),
        ("FreeSWITCH-IPv4", "10.0.0.5"),
        ("Event-Date-Timestamp", str(stamp)),
        ("Event-Calling-File", "mod_callcenter.c"),
        ("Event-Calling-Function", "cc_agent_update"),
        ("Event-Calling-Line-Number", "1087"),
        ("Event-Sequence", str(sequence[0])),
        ("Event-Subclass", "callcenter::info"),
        *fields,
    ]
    body = "".join(f"{k}: {quote(v, safe='')}\n" for k, v in headers) + "\n"
    return frame([("Content-Type", "text/event-plain")], body.encode())


def heartbeat(offset_s: float) -> bytes:
    stamp = BASE_US + int(offset_s * 1_000_000)
    headers = [("Event-Name", "HEARTBEAT"), ("Event-Date-Timestamp", str(stamp)), ("Up-Time", "0 years, 3 days"),
               ("Event-Info", "System Ready")]
    body = "".join(f"{k}: {quote(v, safe='')}\n" for k, v in headers) + "\n"
    return frame([("Content-Type", "text/event-plain")], body.encode())


def epoch(offset_s: float) -> str:
    return str(BASE_US // 1_000_000 + int(offset_s))


def member(uuid: str, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("CC-Queue", QUEUE), ("CC-Member-UUID", uuid), ("CC-Member-Session-UUID", "s-" + uuid), *extra]


def clean_capture() -> bytes:
    out = [frame([("Content-Type", "auth/request")]), reply("+OK accepted"), reply("+OK event listener enabled plain")]
    out.append(api("queue|agent|state|level|position\n"
                   f"{QUEUE}|1001@default|Ready|1|1\n{QUEUE}|1002@default|Ready|1|2\n{QUEUE}|1003@default|Ready|2|1\n+OK\n"))
    out.append(api(
        "name|instance_id|uuid|type|contact|status|state|max_no_answer|wrap_up_time|reject_delay_time|busy_delay_time|"
        "no_answer_delay_time|last_bridge_start|last_bridge_end|last_offered_call|last_status_change|no_answer_count|"
        "calls_answered|talk_time|ready_time|external_calls_count\n"
        "1001@default|single_box||callback|[leg_timeout=10]user/1001@default|Logged Out|Waiting|3|10|10|60|0|0|0|0|1799022000|0|0|0|0|0\n"
        "1002@default|single_box||callback|[leg_timeout=10]user/1002@default|Available|Waiting|3|10|10|60|0|0|0|0|1799022000|0|0|0|0|0\n"
        "1003@default|single_box||callback|[leg_timeout=10]user/1003@default|On Break|Waiting|3|10|10|60|0|0|0|0|1799022000|0|0|0|0|0\n"
        "+OK\n"))
    out.append(api("name|strategy|moh_sound|time_base_score|tier_rules_apply|tier_rule_wait_second|"
                   "tier_rule_wait_multiply_level|tier_rule_no_agent_no_wait|discard_abandoned_after|"
                   "abandoned_resume_allowed|max_wait_time|max_wait_time_with_no_agent|"
                   "max_wait_time_with_no_agent_time_reached|record_template|calls_answered|calls_abandoned|"
                   f"ring_progressively_delay\n{QUEUE}|longest-idle-agent|local_stream://moh|system|false|300|true|"
                   "true|60|false|0|0|5||0|0|10\n+OK\n"))
    out.append(api("queue|instance_id|uuid|session_uuid|cid_number|cid_name|system_epoch|joined_epoch|rejoined_epoch|"
                   "bridge_epoch|abandoned_epoch|base_score|skill_score|serving_agent|serving_system|state|score\n+OK\n"))
    a, b = "a1b2c3d4-0001-4000-8000-000000000001", "a1b2c3d4-0002-4000-8000-000000000002"
    out += [
        cc_event(0, [("CC-Agent", "1001@default"), ("CC-Action", "agent-status-change"), ("CC-Agent-Status", "Available")]),
        cc_event(60, member(a, [("CC-Action", "member-queue-start"), ("CC-Member-CID-Name", "张三"),
                                ("CC-Member-CID-Number", "13800138000")])),
        cc_event(60, [("CC-Queue", QUEUE), ("CC-Action", "members-count"), ("CC-Count", "1"), ("CC-Selection", "Single-Queue")]),
        cc_event(61, [("CC-Agent", "1002@default"), ("CC-Action", "agent-state-change"), ("CC-Agent-State", "Receiving")]),
        cc_event(66, member(a, [("CC-Action", "bridge-agent-start"), ("CC-Agent", "1002@default"),
                                ("CC-Agent-System", "single_box"), ("CC-Agent-UUID", "b-0001"),
                                ("CC-Agent-Called-Time", epoch(61)), ("CC-Agent-Answered-Time", epoch(66)),
                                ("CC-Member-Joined-Time", epoch(60))])),
        cc_event(66, [("CC-Queue", QUEUE), ("CC-Action", "members-count"), ("CC-Count", "0"), ("CC-Selection", "Single-Queue")]),
        cc_event(66, [("CC-Agent", "1002@default"), ("CC-Action", "agent-state-change"), ("CC-Agent-State", "In a queue call")]),
        heartbeat(80),
        cc_event(90, member(b, [("CC-Action", "member-queue-start"), ("CC-Member-CID-Name", "李四"),
                                ("CC-Member-CID-Number", "13900139000")])),
        cc_event(90, [("CC-Queue", QUEUE), ("CC-Action", "members-count"), ("CC-Count", "1"), ("CC-Selection", "Single-Queue")]),
        cc_event(125, member(b, [("CC-Action", "member-queue-end"), ("CC-Cause", "Cancel"),
                                 ("CC-Cancel-Reason", "BREAK_OUT"), ("CC-Member-Joined-Time", epoch(90)),
                                 ("CC-Member-Leaving-Time", epoch(125))])),
        cc_event(125, [("CC-Queue", QUEUE), ("CC-Action", "members-count"), ("CC-Count", "0"), ("CC-Selection", "Single-Queue")]),
        cc_event(246, member(a, [("CC-Action", "member-queue-end"), ("CC-Cause", "Terminated"), ("CC-Agent", "1002@default"),
                                 ("CC-Agent-System", "single_box"), ("CC-Hangup-Cause", "NORMAL_CLEARING"),
                                 ("CC-Member-Joined-Time", epoch(60)), ("CC-Agent-Called-Time", epoch(61)),
                                 ("CC-Agent-Answered-Time", epoch(66)), ("CC-Member-Leaving-Time", epoch(246))])),
        cc_event(246, [("CC-Agent", "1002@default"), ("CC-Action", "bridge-agent-end"), ("CC-Member-UUID", a),
                       ("CC-Bridge-Terminated-Time", epoch(246))]),
        cc_event(246, [("CC-Agent", "1002@default"), ("CC-Action", "agent-state-change"), ("CC-Agent-State", "Waiting")]),
        cc_event(300, [("CC-Agent", "1003@default"), ("CC-Action", "agent-status-change"), ("CC-Agent-Status", "Available")]),
        cc_event(400, [("CC-Agent", "1001@default"), ("CC-Action", "agent-status-change"), ("CC-Agent-Status", "On Break")]),
        cc_event(900, [("CC-Agent", "1001@default"), ("CC-Action", "agent-status-change"), ("CC-Agent-Status", "Available")]),
        cc_event(1000, [("CC-Agent", "1003@default"), ("CC-Action", "agent-status-change"), ("CC-Agent-Status", "Logged Out")]),
    ]
    return b"".join(out)


def bad_capture() -> bytes:
    clean = clean_capture()
    garbage = b"\x00\x01this is line noise, not a header\n\n"
    bad_event = cc_event(500, [("CC-Queue", QUEUE), ("CC-Action", "members-count"), ("CC-Count", "many")])
    no_cause = cc_event(510, member("c-0003", [("CC-Action", "member-queue-end")]))
    cut = cc_event(2000, [("CC-Agent", "1002@default"), ("CC-Action", "agent-status-change"), ("CC-Agent-Status", "On Break")])
    return clean + garbage + bad_event + no_cause + cut[: len(cut) - 40]


if __name__ == "__main__":
    (HERE / "callcenter.esl").write_bytes(clean_capture())
    (HERE / "callcenter_bad.esl").write_bytes(bad_capture())
