"""A solve's time budget, counted on the wall clock (the default) or in deterministic seconds.

A wall-clock limit gives a loaded machine less search than a quiet one, so the
same inputs can give a poorer roster, or none. A deterministic budget counts
the work done instead: CP-SAT's deterministic time (its `max_deterministic_time`,
in units meant to be close to a second of one core) and, for the pure-Python
local searches, a fixed number of moves per second (`MOVES_PER_SECOND`). The
same inputs, seed and workers then get the same effort on any machine and
under any load; with one worker, the same roster. The wall-clock limit still
applies as a guard (`guard_s`) so a deterministic run cannot go on for ever.

Phases split a budget by asking `elapsed()`, give a CP-SAT call its share with
`limit(solver, seconds)`, and record what a call used with `charge(solver)`
(a no-op on the wall clock, which counts by itself).
"""
from __future__ import annotations

import time

from ortools.sat.python import cp_model

__all__ = ["MOVES_PER_SECOND", "Budget"]

MOVES_PER_SECOND = 100_000  # local-search moves counted as one deterministic second (about one on a 2020s core)


class Budget:
    """Where a solve's phases count their time: wall seconds, or deterministic seconds when `deterministic`."""

    def __init__(self, deterministic: bool = False, guard_s: float = float("inf")) -> None:
        self.deterministic = deterministic
        self.guard_s = guard_s
        self._started = time.perf_counter()
        self._spent = 0.0

    def wall(self) -> float:
        """Wall seconds since the budget was made."""
        return time.perf_counter() - self._started

    def elapsed(self) -> float:
        """Budget used so far: wall seconds, or the deterministic seconds charged."""
        return self._spent if self.deterministic else self.wall()

    def limit(self, solver: cp_model.CpSolver, seconds: float) -> None:
        """Stop `solver` after `seconds` of this budget (deterministic: and at the latest at the wall guard)."""
        if self.deterministic:
            solver.parameters.max_deterministic_time = max(0.0, seconds)
            solver.parameters.max_time_in_seconds = max(0.1, self.guard_s - self.wall())
        else:
            solver.parameters.max_time_in_seconds = seconds

    def charge(self, solver: cp_model.CpSolver) -> None:
        """Count the deterministic time `solver`'s last search used."""
        if self.deterministic:
            self._spent += solver.deterministic_time

    def moves(self, seconds: float) -> int | None:
        """The local-search moves `seconds` of a deterministic budget buy; None on the wall clock."""
        return max(0, round(seconds * MOVES_PER_SECOND)) if self.deterministic else None

    def charge_moves(self, moves: int) -> None:
        if self.deterministic:
            self._spent += moves / MOVES_PER_SECOND

    def wall_left(self) -> float:
        """Wall seconds a pure-Python search may run: the guard's rest when deterministic."""
        return max(0.0, self.guard_s - self.wall())
