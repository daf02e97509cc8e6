"""Two months in a row through the CLI: February is built with --previous January's roster; the independent
checker with --previous confirms rest, consecutive days and min rest across the month edge."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date, timedelta


def _demand(path, first: date, days: int, need: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["date", "interval_start", "required"])
        for i in range(days):
            for minute in range(8 * 60 + 30, 23 * 60 + 1, 30):
                out.writerow([(first + timedelta(days=i)).isoformat(), f"{minute // 60:02d}:{minute % 60:02d}", need])


def test_february_after_january(tmp_path, repo):
    agents = tmp_path / "agents.csv"
    agents.write_text("agent_id,name\n" + "".join(f"c{i},Agent {i}\n" for i in range(8)), encoding="utf-8")
    _demand(tmp_path / "jan.csv", date(2027, 1, 1), 31, 3)
    _demand(tmp_path / "feb.csv", date(2027, 2, 1), 28, 3)
    wfm = [sys.executable, "-m", "wfm.cli"]

    def roster(month: str, demand: str, out: str, *extra: str) -> dict:
        run = subprocess.run(wfm + ["roster", "--month", month, "--agents", str(agents), "--demand", str(tmp_path / demand),
                                    "--out", str(tmp_path / out), "--time-limit", "600", "--deterministic-time", "0.3", "--json",
                                    "--no-progress", *extra],
                             capture_output=True, text=True, cwd=repo)
        assert run.returncode in (0, 1), run.stderr
        return json.loads(run.stdout)

    jan = roster("2027-01", "jan.csv", "jan")
    assert jan["hard_violations"] == 0
    feb = roster("2027-02", "feb.csv", "feb", "--previous", str(tmp_path / "jan" / "roster.csv"))
    assert feb["hard_violations"] == 0
    check = subprocess.run(wfm + ["check-roster", str(tmp_path / "feb" / "roster.csv"), "--agents", str(agents), "--demand",
                                  str(tmp_path / "feb.csv"), "--previous", str(tmp_path / "jan" / "roster.csv"), "--json"],
                           capture_output=True, text=True, cwd=repo)
    assert check.returncode == 0, check.stdout
    verdict = json.loads(check.stdout)
    assert verdict["hard_violations"] == 0 and verdict["unmet_agent_intervals"] == feb["unmet_agent_intervals"]
    # the carry-over is real: fairness with carry-over spans both months
    report = json.loads((tmp_path / "feb" / "report.json").read_text(encoding="utf-8"))
    assert "spread_with_carry_over" in report["fairness"]["evenings"]
