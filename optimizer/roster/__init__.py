"""Monthly roster with OR-Tools CP-SAT (floor-rules R1–R8).

The small public API (used by `wfm roster`, `wfm swap` and the dashboard's /roster page):

- `load_problem(config, month, agents_csv, demand_csv, previous_csv=None, ledger_json=None)` → RosterProblem
- `solve(problem, config, time_limit, seed, progress=callback)` → RosterResult (always the best roster found,
  with status, objective, bound, gap; an explanation in words when demand is left unmet)
- `check(roster_csv, config, agents_csv=None, demand_csv=None, previous_csv=None)` → the independent checker's report
- `publish(problem, assignments, out_dir, config, result=None, check=None)` → roster.csv, report.json, ledger.json,
  XLSX, one ICS per agent, an HTML page
- `RosterVersions(dir)` (versions, approve, publish) and `apply_swap(dir, SwapRequest(...), config)` (R7)

Heavy modules (plotly, openpyxl) load only when `publish` is called.
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


def publish(problem, assignments, out_dir, config, result=None, check=None, version="1"):
    """Write every published format into out_dir (see optimizer.publish.publish)."""
    from optimizer.publish import publish as _publish

    return _publish(problem, assignments, out_dir, config, result=result, check=check, version=version)


__all__ = ["Assignment", "ProgressPoint", "RosterInputError", "RosterProblem", "RosterResult", "RosterVersions",
           "SwapOutcome", "SwapRequest", "VersionError", "apply_swap", "check", "evaluate", "load_problem", "publish", "solve"]
