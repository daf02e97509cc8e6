"""Monthly roster with OR-Tools CP-SAT (floor-rules R1–R8).

Public API (used by `wfm roster`, `wfm swap` and the dashboard's /roster page):

- `load_problem(config, month, agents_csv, demand_csv, previous_csv=None)` → RosterProblem
- `solve(problem, config, time_limit, seed, progress=callback)` → RosterResult
- `optimizer.checker.check_files(...)` / `check_roster(...)` — the independent checker
- `optimizer.publish.publish(result, problem, config, out_dir)` — CSV, report, XLSX, ICS, HTML
- `optimizer.roster.versions` and `optimizer.roster.swaps` — versions and R7 swaps
"""
from optimizer.roster.io import RosterInputError, load_problem
from optimizer.roster.problem import Assignment, ProgressPoint, RosterProblem, RosterResult
from optimizer.roster.solve import solve

__all__ = ["Assignment", "ProgressPoint", "RosterInputError", "RosterProblem", "RosterResult", "load_problem", "solve"]
