"""`wfm staffing --from` on columns: the numpy Erlang B walk, the column reader and the column writers.

Each is held against the row-by-row reference that stays in optimizer.staffing
(bisection + optimizer.erlang, read_interval_csv, StaffingResult.to_dict):
same agent counts, the same errors, byte-identical JSON and CSV.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.erlang_scan import scan_erlang_c
from optimizer.staffing import (
    SCAN_MAX_LOAD, StaffingInputError, StaffingTarget, read_interval_csv, solve_agents, solve_columns, staff_intervals,
    write_results_csv,
)
from optimizer.staffing_table import read_interval_table, results_json, write_table_csv

TARGETS = [
    StaffingTarget(service_level=0.8, answer_s=20, max_occupancy=0.85, shrinkage=0.3),
    StaffingTarget(service_level=0.9, answer_s=10, max_occupancy=1.0),
    StaffingTarget(service_level=0.8, answer_s=20, max_occupancy=0.85, max_asa_s=5.0),
    StaffingTarget(service_level=0.5, answer_s=60, max_occupancy=0.95),
]


def grid(seed=3, size=4000, top=3000):
    rng = np.random.default_rng(seed)
    calls = np.round(rng.uniform(0, top, size))
    calls[::9] = 0
    calls[1::50] = 1
    return calls, rng.uniform(20, 900, size).round()


@pytest.mark.parametrize("target", TARGETS)
def test_walk_gives_the_bisection_counts_and_measures(target):
    calls, aht = grid()
    reference = solve_agents(calls, 1800.0, aht, target)
    walked = scan_erlang_c(calls * aht / 1800.0, aht, target.answer_s, target.service_level, target.max_occupancy, target.max_asa_s)
    assert (walked.agents == reference).all()
    rows = staff_intervals(calls, 1800.0, aht, target)
    assert np.allclose(walked.service_level, [r.service_level for r in rows], atol=1e-6)
    assert np.allclose(walked.p_wait, [r.p_wait for r in rows], atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(st.integers(min_value=0, max_value=20_000), min_size=1, max_size=30),
    aht=st.integers(min_value=5, max_value=1200),
    sl=st.floats(min_value=0.05, max_value=0.99),
    answer_s=st.integers(min_value=0, max_value=300),
    cap=st.floats(min_value=0.5, max_value=1.0),
)
def test_walk_equals_bisection_on_any_load(calls, aht, sl, answer_s, cap):
    target = StaffingTarget(service_level=sl, answer_s=answer_s, max_occupancy=cap)
    calls = np.array(calls, dtype=float)
    walked = scan_erlang_c(calls * aht / 1800.0, np.full(calls.shape, float(aht)), answer_s, sl, cap)
    assert (walked.agents == solve_agents(calls, 1800.0, aht, target)).all()


def test_columns_split_walk_and_bisection_by_load_and_agree():
    calls = np.array([0.0, 100.0, 40_000.0, 2_000.0])  # 40,000 x 180 / 1800 = 4,000 Erlangs > SCAN_MAX_LOAD
    aht = np.full(4, 180.0)
    assert (calls * aht / 1800).max() > SCAN_MAX_LOAD
    target = TARGETS[0]
    result = solve_columns(calls, 1800.0, aht, target)
    assert result.agents.tolist() == solve_agents(calls, 1800.0, aht, target).tolist()
    assert result.agents[0] == 0 and result.scheduled.tolist()[1] == 20 and result.p_abandon is None


def test_erlang_a_columns_have_p_abandon():
    target = StaffingTarget(service_level=0.8, answer_s=20, max_occupancy=0.85, model="erlang-a", patience_s=120)
    calls, aht = np.array([100.0, 0.0, 300.0]), np.array([180.0, 180.0, 240.0])
    result = solve_columns(calls, 1800.0, aht, target)
    rows = staff_intervals(calls, 1800.0, aht, target)
    assert result.agents.tolist() == [r.agents for r in rows]
    assert json.loads(results_json(result)) == [r.to_dict() for r in rows]


@pytest.mark.parametrize("target", TARGETS)
def test_json_is_the_row_writers_to_the_last_written_digit(target):
    # the walk's measures agree with optimizer.erlang's to ~1e-12, so a value sitting on a rounding half
    # (ASA 588.0625 s) may be written one unit apart in its last digit; counts are always equal
    calls, aht = grid(seed=7, size=3000, top=800)
    expected = [r.to_dict() for r in staff_intervals(calls, 1800.0, aht, target)]
    written = results_json(solve_columns(calls, 1800.0, aht, target))
    got = json.loads(written)
    assert [g["agents"] for g in got] == [e["agents"] for e in expected]
    assert [g["scheduled"] for g in got] == [e["scheduled"] for e in expected]
    for key, unit in (("service_level", 1e-6), ("occupancy", 1e-6), ("p_wait", 1e-6), ("asa_s", 1e-3)):
        assert np.allclose([g[key] for g in got], [e[key] for e in expected], rtol=0, atol=unit * 1.001)
    apart = sum(g != e for g, e in zip(got, expected))
    assert apart <= 3 and (apart > 0 or written == json.dumps(expected))


def test_json_of_no_rows():
    result = solve_columns(np.zeros(0), 1800.0, np.zeros(0), TARGETS[0])
    assert results_json(result) == "[]"


def _csv(tmp_path, rows, header="date,interval_start,calls,aht_s"):
    path = tmp_path / "in.csv"
    path.write_text(header + "\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return path


def test_csv_out_is_byte_identical_to_the_row_writer(tmp_path):
    rows = [f"2027-01-{4 + i // 48:02d},{(i % 48) // 2:02d}:{30 * (i % 2):02d},{(i * 37) % 400},{120 + (i * 13) % 400}" for i in range(96)]
    src = _csv(tmp_path, rows)
    target = TARGETS[0]
    loads = read_interval_csv(src, 30)
    old = tmp_path / "old.csv"
    write_results_csv(old, loads, staff_intervals(np.array([r.calls for r in loads]), 1800.0, np.array([r.aht_s for r in loads]), target))
    table = read_interval_table(src, 30)
    new = tmp_path / "new.csv"
    write_table_csv(new, table, solve_columns(table.calls, 1800.0, table.aht_s, target))
    assert new.read_bytes() == old.read_bytes()


def test_reader_columns_equal_the_row_reader(tmp_path):
    src = _csv(tmp_path, ["2027-01-04,08:30,10,180", "2027-01-04,09:00,1e1,180.5", "2027-01-05, 08:30 , 7 ,200"])
    table = read_interval_table(src, 30)
    rows = read_interval_csv(src, 30)
    assert table.date == [r.day.isoformat() for r in rows] == ["2027-01-04", "2027-01-04", "2027-01-05"]
    assert table.interval_start == ["08:30", "09:00", "08:30"] and table.queue is None
    assert table.calls.tolist() == [10.0, 10.0, 7.0] and table.aht_s.tolist() == [180.0, 180.5, 200.0]


def test_queue_column_keys_days_per_queue(tmp_path):
    rows = ["Q1,2027-01-04,08:30,10,180", "Q1,2027-01-04,09:00,12,180", " Q2,2027-01-04,08:30,5,200", "Q2,2027-01-04,09:00,6,200"]
    src = _csv(tmp_path, rows, header="queue,date,interval_start,calls,aht_s")
    table = read_interval_table(src, 30)
    assert table.queue == ["Q1", "Q1", "Q2", "Q2"] and [r.queue for r in read_interval_csv(src, 30)] == table.queue
    out = tmp_path / "out.csv"
    write_table_csv(out, table, solve_columns(table.calls, 1800.0, table.aht_s, TARGETS[0]))
    lines = out.read_text().splitlines()
    assert lines[0].startswith("queue,date,interval_start,calls,aht_s,agents") and lines[3].startswith("Q2,2027-01-04,08:30,5,200,")


BAD = [
    (["2027-01-04,08:30,-5,180"], ":2: field 'calls': negative"),
    (["2027-01-04,08:30,10,180", "2027-01-04,09:30,10,180"], ":3: field 'interval_start': gap"),
    (["2027-01-04,09:00,10,180", "2027-01-04,08:30,10,180"], ":3: field 'interval_start': out of order"),
    (["2027-01-04,08:30,10,180", "2027-01-04,08:30,12,180"], ":3: duplicate interval"),
    (["2027-01-05,08:30,10,180", "2027-01-04,08:30,12,180"], ":3: field 'date'"),
    (["2027-13-04,08:30,10,180"], ":2: field 'date'"),
    (["2027-01-04,8h30,10,180"], ":2: field 'interval_start'"),
    (["2027-01-04,08:45,10,180"], ":2: field 'interval_start': 08:45 is not on the 30-min grid"),
    (["2027-01-04,08:30,ten,180"], ":2: field 'calls'"),
    (["2027-01-04,08:30,nan,180"], ":2: field 'calls': not a finite"),
    (["2027-01-04,08:30,10,0"], ":2: field 'aht_s'"),
    (["2027-01-04,08:30,10"], ":2: expected 4 fields"),
]


@pytest.mark.parametrize("rows,fragment", BAD)
def test_column_reader_errors_are_the_row_readers(tmp_path, rows, fragment):
    src = _csv(tmp_path, rows)
    with pytest.raises(StaffingInputError) as row_error:
        read_interval_csv(src, 30)
    with pytest.raises(StaffingInputError) as column_error:
        read_interval_table(src, 30)
    assert str(column_error.value) == str(row_error.value) and fragment in str(row_error.value)


def test_interleaved_queue_duplicate_is_found(tmp_path):
    rows = ["Q1,2027-01-04,08:30,10,180", "Q2,2027-01-04,08:30,5,200", "Q1,2027-01-04,08:30,7,180"]
    src = _csv(tmp_path, rows, header="queue,date,interval_start,calls,aht_s")
    with pytest.raises(StaffingInputError, match=r":4: duplicate interval queue Q1 2027-01-04 08:30 \(first on line 2\)"):
        read_interval_table(src, 30)


def test_erlang_c_from_csv_imports_neither_scipy_nor_pandas(tmp_path):
    src = _csv(tmp_path, ["2027-01-04,08:30,100,180", "2027-01-04,09:00,0,180"])
    code = (
        "import sys, io, contextlib\n"
        "from wfm.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = main(['staffing', '--from', {str(src)!r}, '--json'])\n"
        "print(rc, sorted(m for m in ('scipy', 'pandas', 'ortools', 'statsmodels') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "0 []"


def _sample_text() -> str:
    rows = ["queue,date,interval_start,calls,aht_s"]
    for queue in ("Q1", "Q2"):
        for day in (4, 5):
            for slot in range(16, 22):
                rows.append(f"{queue},2027-01-{day:02d},{slot // 2:02d}:{30 * (slot % 2):02d},{20 + slot * 3},{170 + slot}")
    return "\n".join(rows) + "\n"


SAMPLE = _sample_text()


@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(min_value=0, max_value=len(SAMPLE) - 1),
                                 st.sampled_from(["", ",", "\n", "0", "9", ":", "-", " ", "x", "e", "Q3", "\n\n"])),
                      min_size=1, max_size=4))
def test_column_reader_agrees_with_the_row_reader_on_damaged_files(tmp_path_factory, edits):
    text = SAMPLE
    for at, replacement in sorted(edits, reverse=True):
        text = text[:at] + replacement + text[at + 1:]
    path = tmp_path_factory.mktemp("damaged") / "in.csv"
    path.write_text(text, encoding="utf-8")
    try:
        rows = read_interval_csv(path, 30)
    except StaffingInputError as row_error:
        with pytest.raises(StaffingInputError) as column_error:
            read_interval_table(path, 30)
        assert str(column_error.value) == str(row_error)
        return
    table = read_interval_table(path, 30)
    assert table.date == [r.day.isoformat() for r in rows]
    assert table.interval_start == [r.interval_start.strftime("%H:%M") for r in rows]
    assert table.calls.tolist() == [r.calls for r in rows] and table.aht_s.tolist() == [r.aht_s for r in rows]
    assert table.queue == [r.queue for r in rows]
