"""Outside-in conformance of the `wfm` command line with docs/interfaces.md §3-§6.

Every test runs the CLI as a subprocess and reads only stdout, stderr, the
exit code and the files a command is documented to write. Expected numbers
are computed here independently (Erlang C closed form, the unmet-demand
definition of §4, the Curtois penalty of §5), never taken from the product.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WFM = [sys.executable, "-m", "wfm.cli"]
NRP_DIR = REPO / "benchmarks" / "instances" / "nrp"


def wfm(*args, cwd=None, timeout=120):
    proc = subprocess.run([*WFM, *map(str, args)], capture_output=True, timeout=timeout, cwd=cwd)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    return proc


def json_lines(stdout: bytes):
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


# ---------------------------------------------------------------- §3 exit codes and one-line errors


@pytest.mark.parametrize("argv", [
    ["replay", "{missing}", "--json"],
    ["check-roster", "{missing}", "--json"],
    ["nrp", "{missing}", "--json"],
    ["ingest", "--protocol", "serial", "{missing}", "--json"],
    ["staffing", "--from", "{missing}", "--json"],
])
def test_missing_input_file_is_exit_2_with_one_line_naming_it(tmp_path, argv):
    missing = tmp_path / "nope.txt"
    proc = wfm(*[a.format(missing=missing) for a in argv])
    assert proc.returncode == 2
    assert proc.stdout == b""
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0]


def test_unknown_subcommand_and_bad_flag_are_exit_2():
    assert wfm("no-such-command").returncode == 2
    assert wfm("replay", "--no-such-flag", "x").returncode == 2


def test_bad_config_is_exit_2_naming_the_file(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[floor\nthis is not toml\n")
    events = tmp_path / "e.jsonl"
    events.write_text("")
    proc = wfm("replay", events, "--config", cfg, "--json")
    assert proc.returncode == 2 and str(cfg) in proc.stderr.decode()
    assert len(proc.stderr.decode().strip().splitlines()) == 1


def test_replay_empty_file_is_success_with_no_output(tmp_path):
    events = tmp_path / "e.jsonl"
    events.write_text("")
    proc = wfm("replay", events, "--json")
    assert proc.returncode == 0 and proc.stdout == b""


def test_replay_from_stdin(tmp_path):
    lines = "".join(json.dumps({"type": "agent_state", "ts": f"2027-01-04T09:00:0{i}+08:00", "agent": a,
                                "state": "ready"}) + "\n" for i, a in enumerate("ABC"))
    lines += json.dumps({"type": "break_request", "ts": "2027-01-04T09:01:00+08:00", "agent": "A",
                         "kind": "short"}) + "\n"
    proc = subprocess.run([*WFM, "replay", "-", "--json"], input=lines.encode(), capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert json_lines(proc.stdout)[0]["rule"] == "QUEUE_NEAR_FULL"


def test_replay_of_a_40_line_file_answers_quickly(tmp_path):
    """§3: about a second; measured as imports only (no heavy modules), never a timing assertion."""
    code = ("import sys, runpy; sys.argv=['wfm','replay',sys.argv[1],'--json'];\n"
            "from wfm.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('ortools', 'numpy', 'pandas', 'scipy', 'dash', 'plotly', 'starlette', 'sqlalchemy',"
            " 'psycopg', 'selenium') if m in sys.modules]\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy))\n")
    events = tmp_path / "e.jsonl"
    events.write_text("".join(json.dumps({"type": "agent_state", "ts": f"2027-01-04T09:{i:02d}:00+08:00",
                                          "agent": f"a{i % 7}", "state": "ready" if i % 2 else "on_call"}) + "\n"
                              for i in range(40)))
    proc = subprocess.run([sys.executable, "-c", code, str(events)], capture_output=True, timeout=60)
    assert proc.stderr.decode().strip().endswith("HEAVY="), proc.stderr.decode()


# ---------------------------------------------------------------- §6 staffing


def erlang_c(agents: int, traffic: float) -> float:
    """P(wait), Erlang C, by the Erlang B recursion (independent of the product)."""
    if agents <= traffic:
        return 1.0
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return agents * b / (agents - traffic * (1 - b))


def reference_staffing(calls, interval_min, aht_s, target_sl, answer_s, max_occ=0.85, shrinkage=0.30):
    traffic = calls * aht_s / (interval_min * 60)
    n = max(1, math.floor(traffic) + 1)
    while True:
        pw = erlang_c(n, traffic)
        sl = 1 - pw * math.exp(-(n - traffic) * answer_s / aht_s)
        if sl >= target_sl and traffic / n <= max_occ:
            break
        n += 1
    asa = pw * aht_s / (n - traffic)
    return {"agents": n, "scheduled": math.ceil(n / (1 - shrinkage) - 1e-9), "service_level": sl,
            "occupancy": traffic / n, "p_wait": pw, "asa_s": asa}


STAFFING_KEYS = ["agents", "scheduled", "service_level", "occupancy", "p_wait", "asa_s", "p_abandon"]


@pytest.mark.parametrize("calls,interval,aht,sl,ans", [(100, 30, 180, 0.8, 20), (250, 30, 200, 0.8, 20),
                                                      (20, 15, 300, 0.9, 15), (1000, 60, 240, 0.8, 30)])
def test_staffing_erlang_c_matches_the_closed_form(calls, interval, aht, sl, ans):
    proc = wfm("staffing", "--calls", calls, "--interval-min", interval, "--aht-s", aht, "--target-sl", sl,
               "--answer-s", ans, "--max-occupancy", 0.85, "--shrinkage", 0.3, "--json")
    assert proc.returncode == 0
    [obj] = json_lines(proc.stdout)
    assert list(obj) == STAFFING_KEYS
    ref = reference_staffing(calls, interval, aht, sl, ans)
    assert obj["agents"] == ref["agents"] and obj["scheduled"] == ref["scheduled"]
    assert isinstance(obj["agents"], int) and isinstance(obj["scheduled"], int)
    for key in ("service_level", "occupancy", "p_wait"):
        assert obj[key] == pytest.approx(ref[key], abs=1e-4)
    assert obj["asa_s"] == pytest.approx(ref["asa_s"], abs=0.01)
    assert obj["p_abandon"] is None


def test_staffing_erlang_a_counts_abandons_as_not_answered_in_time():
    proc = wfm("staffing", "--calls", 100, "--interval-min", 30, "--aht-s", 180, "--target-sl", 0.8,
               "--answer-s", 20, "--model", "erlang-a", "--patience-s", 120, "--json")
    assert proc.returncode == 0
    [obj] = json_lines(proc.stdout)
    assert list(obj) == STAFFING_KEYS
    assert 0 < obj["p_abandon"] < 1
    assert obj["service_level"] <= 1 - obj["p_abandon"] + 1e-9
    assert obj["service_level"] >= 0.8


def test_staffing_from_csv_gives_a_json_list_and_out_csv(tmp_path):
    src = tmp_path / "iv.csv"
    src.write_text("date,interval_start,calls,aht_s\n2027-01-04,09:00,100,180\n2027-01-04,09:30,0,180\n")
    out = tmp_path / "staff.csv"
    proc = wfm("staffing", "--from", src, "--out", out, "--json", "--interval-min", 30)
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    assert isinstance(rows, list) and len(rows) == 2 and all(list(r)[-7:] == STAFFING_KEYS or
                                                               set(STAFFING_KEYS) <= set(r) for r in rows)
    assert rows[0]["agents"] == reference_staffing(100, 30, 180, 0.8, 20)["agents"]
    assert rows[1]["agents"] == 0
    with out.open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 2 and set(STAFFING_KEYS) <= set(table[0])


def test_staffing_bad_csv_row_is_exit_2_naming_file_and_line(tmp_path):
    src = tmp_path / "iv.csv"
    src.write_text("date,interval_start,calls,aht_s\n2027-01-04,09:00,100,180\n2027-01-04,09:30,lots,180\n")
    proc = wfm("staffing", "--from", src, "--json")
    assert proc.returncode == 2 and proc.stdout == b""
    assert f"{src}:3" in proc.stderr.decode()


# ---------------------------------------------------------------- §4 roster and check-roster


def _feb_roster(tmp_path):
    rows = ["agent_id,date,shift,start,end,meal_start"]
    for i in range(28):
        d = dt.date(2027, 2, 1) + dt.timedelta(days=i)
        off = i % 7 == 6
        rows.append(f"A1,{d},OFF,,," if off else f"A1,{d},day,08:30,16:00,12:00")
        rows.append(f"A2,{d},OFF,,," if off else f"A2,{d},late,17:30,01:00,20:00")
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(rows) + "\n")
    agents = tmp_path / "agents.csv"
    agents.write_text("agent_id,name,colour\nA1,Ann,red\nA2,Bo,blue\n")
    site = tmp_path / "site.toml"
    site.write_text('[roster]\nshifts = [{name = "day", start = "08:30", end = "16:00"}, '
                    '{name = "late", start = "17:30", end = "01:00"}]\n')
    return roster, agents, site


def test_check_roster_unmet_agent_intervals_definition(tmp_path):
    roster, agents, site = _feb_roster(tmp_path)
    demand = tmp_path / "demand.csv"
    demand.write_text(
        "date,interval_start,required\n"
        "2027-02-01,08:30,1\n"     # covered whole interval: 0
        "2027-02-01,12:00,1\n"     # A1's meal overlaps: 1
        "2027-02-01,12:30,2\n"     # one on post: 1
        "2027-02-01,15:30,1\n"     # 15:30-16:00 covered: 0
        "2027-02-01,16:00,1\n"     # after the day shift, before late: 1
        "2027-02-01,17:00,1\n"     # the late shift starts 17:30: not the whole interval: 1
        "2027-02-01,20:00,1\n"     # A2's meal: 1
        "2027-02-01,20:30,1\n"     # 0
        "2027-02-02,00:30,1\n"     # covered by 02-01's late shift crossing midnight: 0
        "2027-02-02,01:00,1\n"     # shift ended at 01:00: 1
        "2027-02-07,10:00,1\n")    # A1 OFF: 1
    proc = wfm("check-roster", roster, "--agents", agents, "--demand", demand, "--config", site, "--json")
    [report] = json_lines(proc.stdout)
    assert report["unmet_agent_intervals"] == 7
    assert proc.returncode == 1  # F8: one agent per shift cannot keep lunch cover


def test_check_roster_clean_roster_exits_0(tmp_path):
    rows = ["agent_id,date,shift,start,end,meal_start"]
    for i in range(28):
        d = dt.date(2027, 2, 1) + dt.timedelta(days=i)
        for agent, meal, rest in (("A1", "11:00", 6), ("A2", "12:00", 5), ("A3", "13:00", 4)):
            rows.append(f"{agent},{d},OFF,,," if i % 7 == rest else f"{agent},{d},day,08:30,16:00,{meal}")
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(rows) + "\n")
    proc = wfm("check-roster", roster, "--json")
    [report] = json_lines(proc.stdout)
    assert report["hard_violations"] == 0, report
    assert proc.returncode == 0


def test_check_roster_flags_seven_days_in_a_row_and_bad_meal(tmp_path):
    rows = ["agent_id,date,shift,start,end,meal_start"]
    for i in range(28):
        d = dt.date(2027, 2, 1) + dt.timedelta(days=i)
        rows.append(f"A1,{d},OFF,,," if i in (7, 14, 21, 22) else f"A1,{d},day,08:30,16:00,09:00")
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(rows) + "\n")
    proc = wfm("check-roster", roster, "--json")
    [report] = json_lines(proc.stdout)
    assert proc.returncode == 1 and report["hard_violations"] > 0
    text = json.dumps(report)
    assert "R2" in text or "consecutive" in text.lower()
    assert "R8" in text or "meal" in text.lower()


def test_check_roster_bad_row_is_exit_2_with_file_and_line(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("agent_id,date,shift,start,end,meal_start\nA1,2027-02-01,day,8h30,16:00,12:00\n")
    proc = wfm("check-roster", roster, "--json")
    assert proc.returncode == 2 and f"{roster}:2" in proc.stderr.decode()
    roster.write_text("agent,date,shift,start,end,meal\nA1,2027-02-01,day,08:30,16:00,12:00\n")
    proc = wfm("check-roster", roster, "--json")
    assert proc.returncode == 2 and str(roster) in proc.stderr.decode()


@pytest.fixture(scope="module")
def small_roster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roster")
    agents = tmp / "agents.csv"
    agents.write_text("agent_id,name,unavailable,rest_requests,preferred_shift,hobby\n"
                      "A1,Ann,2027-02-03;2027-02-04,,day,x\nA2,Bo,,2027-02-10,,y\nA3,Cy,,,,z\nA4,Di,,,evening,z\n")
    rows = ["date,interval_start,required"]
    for i in range(28):
        d = dt.date(2027, 2, 1) + dt.timedelta(days=i)
        rows += [f"{d},{h:02d}:{m},1" for h in range(9, 15) for m in ("00", "30")]
        rows += [f"{d},{h:02d}:{m},1" for h in range(17, 22) for m in ("00", "30")]
    demand = tmp / "demand.csv"
    demand.write_text("\n".join(rows) + "\n")
    out = tmp / "new" / "dir"
    proc = wfm("roster", "--month", "2027-02", "--agents", agents, "--demand", demand, "--out", out,
               "--time-limit", 600, "--deterministic-time", 0.3, "--seed", 1, "--json", timeout=900)
    return proc, out, agents, demand


def test_roster_csv_header_rows_and_formats(small_roster):
    proc, out, _, _ = small_roster
    assert proc.returncode in (0, 1), proc.stderr.decode()[-500:]
    text = (out / "roster.csv").read_text()
    assert text.splitlines()[0] == "agent_id,date,shift,start,end,meal_start"
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 4 * 28
    assert {(r["agent_id"], r["date"]) for r in rows} == {
        (a, str(dt.date(2027, 2, 1) + dt.timedelta(days=i))) for a in ("A1", "A2", "A3", "A4") for i in range(28)}
    hhmm = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
    for r in rows:
        if r["shift"] == "OFF":
            assert r["start"] == r["end"] == r["meal_start"] == ""
        else:
            assert r["shift"] in ("day", "evening")
            assert all(hhmm.match(r[k]) for k in ("start", "end", "meal_start")), r
    a1 = {r["date"]: r["shift"] for r in rows if r["agent_id"] == "A1"}
    assert a1["2027-02-03"] == a1["2027-02-04"] == "OFF"  # unavailable


def test_roster_report_keys_and_agreement_with_check_roster(small_roster):
    proc, out, agents, demand = small_roster
    report = json.loads((out / "report.json").read_text())
    for key, kind in (("hard_violations", int), ("unmet_agent_intervals", int), ("objective", (int, float)),
                      ("status", str), ("fairness", dict)):
        assert isinstance(report[key], kind), key
    assert report["hard_violations"] == 0
    assert proc.returncode == (1 if report["unmet_agent_intervals"] else 0)
    check = wfm("check-roster", out / "roster.csv", "--agents", agents, "--demand", demand, "--json")
    [checked] = json_lines(check.stdout)
    assert checked["unmet_agent_intervals"] == report["unmet_agent_intervals"]
    assert checked["hard_violations"] == 0 and check.returncode == 0  # unmet demand is not a rule breach


# ---------------------------------------------------------------- §5 Curtois NRP


def parse_curtois(text: str):
    sections, current = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("SECTION_"):
            current = sections.setdefault(line, [])
            continue
        current.append(line.split(","))
    return sections


def curtois_check(text: str, roster: dict[str, list[str]]):
    """(hard violations, penalty) of a roster by the schedulingbenchmarks.org rules, written from the spec."""
    s = parse_curtois(text)
    horizon = int(s["SECTION_HORIZON"][0][0])
    length = {r[0]: int(r[1]) for r in s["SECTION_SHIFTS"]}
    cannot = {r[0]: set(filter(None, r[2].split("|"))) if len(r) > 2 else set() for r in s["SECTION_SHIFTS"]}
    hard = []
    for row in s["SECTION_STAFF"]:
        e, maxs, maxmin, minmin, maxcons, mincons, minoff, maxwe = row[0], row[1], *map(int, row[2:])
        days = roster[e]
        assert len(days) == horizon
        limits = {k: int(v) for k, v in (p.split("=") for p in maxs.split("|"))}
        for sh, lim in limits.items():
            if sum(d == sh for d in days) > lim:
                hard.append((e, "max shifts", sh))
        minutes = sum(length[d] for d in days if d)
        if not minmin <= minutes <= maxmin:
            hard.append((e, "minutes", minutes))
        for d in range(horizon - 1):
            if days[d] and days[d + 1] in cannot[days[d]]:
                hard.append((e, "rotation", d))
        runs, d = [], 0
        while d < horizon:
            j = d
            while j < horizon and bool(days[j]) == bool(days[d]):
                j += 1
            runs.append((bool(days[d]), d, j))
            d = j
        for working, a, b in runs:
            n, edge = b - a, a == 0 or b == horizon
            if working and n > maxcons:
                hard.append((e, "max consecutive", a))
            if working and n < mincons and not edge:
                hard.append((e, "min consecutive", a))
            if not working and n < minoff and not edge:
                hard.append((e, "min days off", a))
        weekends = sum(1 for w in range(horizon // 7) if days[7 * w + 5] or days[7 * w + 6])
        if weekends > maxwe:
            hard.append((e, "weekends", weekends))
    for e, *idx in s.get("SECTION_DAYS_OFF", []):
        for i in idx:
            if roster[e][int(i)]:
                hard.append((e, "day off", i))
    penalty = 0
    for e, d, sh, w in s.get("SECTION_SHIFT_ON_REQUESTS", []):
        penalty += int(w) * (roster[e][int(d)] != sh)
    for e, d, sh, w in s.get("SECTION_SHIFT_OFF_REQUESTS", []):
        penalty += int(w) * (roster[e][int(d)] == sh)
    for d, sh, req, under, over in s.get("SECTION_COVER", []):
        n = sum(days[int(d)] == sh for days in roster.values())
        penalty += max(0, int(req) - n) * int(under) + max(0, n - int(req)) * int(over)
    return hard, penalty


@pytest.mark.parametrize("name", ["Instance1", "Instance2", "Instance8"])
def test_nrp_json_keys_and_objective_recomputed_independently(name):
    """A deterministic budget (1 s of CP-SAT's work on two workers; the wall limit only guards) finds a roster on any
    machine under any load, so every instance's JSON is checked in full."""
    path = NRP_DIR / f"{name}.txt"
    proc = subprocess.run(["nice", *WFM, "nrp", str(path), "--time-limit", "600", "--deterministic-time", "1",
                           "--workers", "2", "--json"], capture_output=True, timeout=900)
    assert proc.returncode == 0, proc.stderr.decode()[-400:]
    [obj] = json_lines(proc.stdout)
    assert list(obj) == ["instance", "status", "objective", "bound", "seconds", "roster"]
    assert obj["instance"] == name
    assert obj["status"] in ("OPTIMAL", "FEASIBLE"), obj["status"]
    assert isinstance(obj["objective"], int) and (obj["bound"] is None or isinstance(obj["bound"], (int, float)))
    assert isinstance(obj["seconds"], (int, float))
    text = path.read_text()
    staff = [r[0] for r in parse_curtois(text)["SECTION_STAFF"]]
    assert sorted(obj["roster"]) == sorted(staff)
    hard, penalty = curtois_check(text, obj["roster"])
    assert hard == []
    assert obj["objective"] == penalty
    if name == "Instance1":
        assert penalty >= 607  # published optimum


def test_nrp_deterministic_time_must_not_be_negative():
    proc = wfm("nrp", NRP_DIR / "Instance1.txt", "--deterministic-time", "-1", "--json")
    assert proc.returncode == 2 and b"--deterministic-time must be >= 0, got -1" in proc.stderr and proc.stdout == b""


def test_nrp_bad_instance_is_exit_2_with_line(tmp_path):
    bad = tmp_path / "Bad.txt"
    bad.write_text("SECTION_HORIZON\nfourteen\n")
    proc = wfm("nrp", bad, "--time-limit", 1, "--json")
    assert proc.returncode == 2 and f"{bad}:2" in proc.stderr.decode() and proc.stdout == b""


def _roster_file(path, offs_by_agent):
    meals = {"A1": "10:00", "A2": "11:00", "A3": "12:00"}
    rows = ["agent_id,date,shift,start,end,meal_start"]
    for agent, offs in offs_by_agent.items():
        for i in range(28):
            d = dt.date(2027, 2, 1) + dt.timedelta(days=i)
            rows.append(f"{agent},{d},OFF,,," if i in offs else f"{agent},{d},day,08:30,16:00,{meals[agent]}")
    path.write_text("\n".join(rows) + "\n")


def test_check_roster_rest_days_and_six_in_a_row(tmp_path):
    ok = tmp_path / "ok.csv"
    _roster_file(ok, {"A1": {6, 13, 20, 27}, "A2": {5, 12, 19, 26}, "A3": {4, 11, 18, 25}})
    agents = tmp_path / "agents.csv"
    agents.write_text("agent_id,name,unavailable\nA1,a,2027-02-07;2027-02-14\nA2,b,\nA3,c,\n")
    proc = wfm("check-roster", ok, "--agents", agents, "--json")
    [report] = json_lines(proc.stdout)
    assert (proc.returncode, report["hard_violations"]) == (0, 0), report["violations"][:3]
    bad = tmp_path / "bad.csv"
    _roster_file(bad, {"A1": {6, 13, 20}, "A2": {5, 12, 19, 26}, "A3": {4, 11, 18, 25}})  # A1: 7 in a row, 3 rest
    proc = wfm("check-roster", bad, "--json")
    [report] = json_lines(proc.stdout)
    assert proc.returncode == 1
    rules = {(v["rule"].split("_")[0], v["agent"]) for v in report["violations"]}
    assert ("R2", "A1") in rules and ("R3", "A1") in rules
    assert not any(agent in ("A2", "A3") for _, agent in rules)


def test_roster_from_forecast_history(tmp_path):
    rows = ["timestamp,calls,aht_s"]
    t = dt.datetime(2026, 12, 28)
    while t < dt.datetime(2027, 2, 1):
        h = t.hour + t.minute / 60
        calls = 0 if h < 8.5 or h >= 23 else 2 + (t.toordinal() % 2)
        rows.append(f"{t:%Y-%m-%d %H:%M},{calls},120")
        t += dt.timedelta(minutes=30)
    history = tmp_path / "history.csv"
    history.write_text("\n".join(rows) + "\n")
    agents = tmp_path / "agents.csv"
    agents.write_text("agent_id,name\n" + "".join(f"B{i},n{i}\n" for i in range(6)))
    out = tmp_path / "out"
    proc = wfm("roster", "--month", "2027-02", "--agents", agents, "--forecast", history, "--out", out,
               "--time-limit", 600, "--deterministic-time", 0.3, "--json", timeout=900)
    [summary] = json_lines(proc.stdout)
    report = json.loads((out / "report.json").read_text())
    assert proc.returncode == (1 if report["unmet_agent_intervals"] else 0)
    assert summary["unmet_agent_intervals"] == report["unmet_agent_intervals"]
    assert (out / "roster.csv").read_text().splitlines()[0] == "agent_id,date,shift,start,end,meal_start"
    assert len((out / "roster.csv").read_text().splitlines()) == 1 + 6 * 28


def erlang_a_chain(n: int, lam: float, mu: float, theta: float):
    """P(wait) and P(abandon) of M/M/n+M from its birth-death chain (abandon rate = theta * E[queue])."""
    weights, w, k = [1.0], 1.0, 0
    while True:
        k += 1
        w *= lam / (min(k, n) * mu + max(0, k - n) * theta)
        weights.append(w)
        if k > n and w < 1e-16 * sum(weights):
            break
    total = sum(weights)
    pi = [x / total for x in weights]
    p_wait = sum(pi[n:])
    queue = sum((k - n) * p for k, p in enumerate(pi) if k > n)
    return p_wait, theta * queue / lam


@pytest.mark.parametrize("calls,aht,patience,agents_hint", [(100, 180, 120, None), (300, 240, 60, None)])
def test_staffing_erlang_a_p_abandon_and_p_wait_match_the_chain(calls, aht, patience, agents_hint):
    proc = wfm("staffing", "--calls", calls, "--interval-min", 30, "--aht-s", aht, "--target-sl", 0.8,
               "--answer-s", 20, "--model", "erlang-a", "--patience-s", patience, "--json")
    [obj] = json_lines(proc.stdout)
    p_wait, p_abandon = erlang_a_chain(obj["agents"], calls / 1800, 1 / aht, 1 / patience)
    assert obj["p_abandon"] == pytest.approx(p_abandon, abs=2e-4)
    assert obj["p_wait"] == pytest.approx(p_wait, abs=2e-4)
    # one agent fewer would miss the target (agents is the smallest that meets it)
    fewer = erlang_a_chain(obj["agents"] - 1, calls / 1800, 1 / aht, 1 / patience)
    assert fewer[0] > p_wait


@pytest.mark.parametrize("args,where", [
    (["--agents", "{bad_agents}", "--demand", "{demand}"], "{bad_agents}:1"),
    (["--agents", "{agents}", "--demand", "{bad_demand}"], "{bad_demand}:2"),
    (["--agents", "{agents}", "--demand", "{off_grid}"], "{off_grid}:2"),
])
def test_roster_bad_input_is_exit_2_naming_file_and_line(tmp_path, args, where):
    files = {"agents": "agent_id,name\nA1,a\n", "bad_agents": "agent_id\nA1\n",
             "demand": "date,interval_start,required\n2027-02-01,09:00,1\n",
             "bad_demand": "date,interval_start,required\n2027-02-01,09:00,x\n",
             "off_grid": "date,interval_start,required\n2027-02-01,09:15,1\n"}
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / f"{name}.csv"
        paths[name].write_text(text)
    proc = wfm("roster", "--month", "2027-02", *[a.format(**paths) for a in args], "--out", tmp_path / "o",
               "--time-limit", 1, "--json")
    assert proc.returncode == 2 and proc.stdout == b""
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and where.format(**paths) in err[0]


def test_check_roster_min_rest_between_shifts_from_config(tmp_path):
    rows = ["agent_id,date,shift,start,end,meal_start"]
    for i in range(28):
        d = dt.date(2027, 2, 1) + dt.timedelta(days=i)
        for agent, rest, meal in (("A1", 6, "10:00"), ("A2", 5, "11:00"), ("A3", 4, "12:00")):
            if i % 7 == rest:
                rows.append(f"{agent},{d},OFF,,,")
            elif agent == "A1" and i == 1:
                rows.append(f"{agent},{d},evening,16:00,23:30,19:00")  # then day 08:30: 9 h of rest
            else:
                rows.append(f"{agent},{d},day,08:30,16:00,{meal}")
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(rows) + "\n")
    [report] = json_lines(wfm("check-roster", roster, "--json").stdout)
    r4 = [v for v in report["violations"] if v["rule"].startswith("R4")]
    assert [(v["agent"], v["day"]) for v in r4] == [("A1", "2027-02-03")]
    site = tmp_path / "site.toml"
    site.write_text("[roster]\nmin_rest_between_shifts_h = 8\n")
    [report] = json_lines(wfm("check-roster", roster, "--json", "--config", site).stdout)
    assert not [v for v in report["violations"] if v["rule"].startswith("R4")]


def test_check_roster_previous_month_carries_consecutive_days(tmp_path):
    prev = ["agent_id,date,shift,start,end,meal_start"]
    for i in range(31):
        d = dt.date(2027, 1, 1) + dt.timedelta(days=i)
        prev.append(f"A1,{d},OFF,,," if i in (4, 11, 18, 25) else f"A1,{d},day,08:30,16:00,10:00")  # works 27-31
    cur = ["agent_id,date,shift,start,end,meal_start"]
    for i in range(28):
        d = dt.date(2027, 2, 1) + dt.timedelta(days=i)
        cur.append(f"A1,{d},OFF,,," if i in (2, 9, 16, 23) else f"A1,{d},day,08:30,16:00,10:00")  # works 1-2
    previous, roster = tmp_path / "prev.csv", tmp_path / "cur.csv"
    previous.write_text("\n".join(prev) + "\n")
    roster.write_text("\n".join(cur) + "\n")
    [alone] = json_lines(wfm("check-roster", roster, "--json").stdout)
    assert not [v for v in alone["violations"] if v["rule"].startswith("R2")]
    proc = wfm("check-roster", roster, "--previous", previous, "--json")
    [carried] = json_lines(proc.stdout)
    r2 = [(v["agent"], v["day"]) for v in carried["violations"] if v["rule"].startswith("R2")]
    assert r2 == [("A1", "2027-02-02")] and proc.returncode == 1


def test_common_options_may_come_before_the_command(tmp_path):
    """§3: all commands take --config PATH and --json; `wfm --config X replay F` works like `wfm replay F --config X`."""
    events = tmp_path / "e.jsonl"
    events.write_text("".join(json.dumps({"type": "agent_state", "ts": f"2027-01-04T09:00:0{i}+08:00", "agent": a,
                                          "state": "ready"}) + "\n" for i, a in enumerate("ABC"))
                      + json.dumps({"type": "break_request", "ts": "2027-01-04T09:01:00+08:00", "agent": "A",
                                    "kind": "short"}) + "\n")
    site = tmp_path / "site.toml"
    site.write_text("[floor]\nnear_full_idle_threshold = 2\n")
    after = wfm("replay", events, "--config", site, "--json")
    before = wfm("--config", site, "--json", "replay", events)
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout and json_lines(before.stdout)[0]["allowed"] is True
    assert wfm("--json").returncode == 2


def test_roster_demand_no_template_covers_is_unmet_not_bad_input(tmp_path):
    agents = tmp_path / "agents.csv"
    agents.write_text("agent_id,name\n" + "".join(f"A{i},n{i}\n" for i in range(4)))
    demand = tmp_path / "demand.csv"
    demand.write_text("date,interval_start,required\n2027-02-01,07:00,1\n2027-02-01,09:00,1\n")  # 07:00: no template
    out = tmp_path / "out"
    proc = wfm("roster", "--month", "2027-02", "--agents", agents, "--demand", demand, "--out", out,
               "--time-limit", 600, "--deterministic-time", 0.3, "--json", timeout=900)
    assert proc.returncode == 1, proc.stderr.decode()[-300:]
    report = json.loads((out / "report.json").read_text())
    assert report["unmet_agent_intervals"] >= 1
    assert "opening hours" in " ".join(report["explanation"])  # says why: no template covers 07:00
