"""Monthly roster with OR-Tools CP-SAT (floor-rules R1–R8).

The small public API (used by `wfm roster`, `wfm swap` and the dashboard's /roster page):

- `load_problem(config, month, agents_csv, demand_csv, previous_csv=None, ledger_json=None)` → RosterProblem
- `solve(problem, config, time_limit, seed, progress=callback)` → RosterResult (always the best roster found,
  with status, objective, bound, gap; an explanation in words when demand is left unmet)
- `check(roster_csv, config, agents_csv=None, demand_csv=None, previous_csv=None)` → the independent checker's report
- `RosterVersions(dir)` (versions, approve, publish) and `apply_swap(dir, SwapRequest(...), config)` (R7)

Publishing a roster (XLSX, ICS, HTML, report) is optimizer.publish, which builds on this package; the
scheduler's desk (solver runs, versions, edits, swaps over folders on disk) is optimizer.desk, above both.
"""
from optimizer.roster.io import RosterInputError, load_problem
from optimizer.roster.problem import Assignment, ProgressPoint, RosterProblem, RosterResult
from optimizer.roster.solve import evaluate, solve
from optimizer.roster.swaps import SwapOutcome, SwapRequest, apply_swap
from optimizer.roster.versions import RosterVersions, VersionError


def check(roster_csv, config, agents_csv=None, demand_csv=None, previous_csv=None):
    """The independent checker (optimizer.checker) on a roster.csv: hard violations, unmet demand, fairness."""
    from optimizer.checker import check_files

    return check_files(roster_csv, config, agents_csv, demand_csv, previous_csv)


__all__ = ["Assignment", "ProgressPoint", "RosterInputError", "RosterProblem", "RosterResult", "RosterVersions",
           "SwapOutcome", "SwapRequest", "VersionError", "apply_swap", "check", "evaluate", "load_problem", "solve"]
