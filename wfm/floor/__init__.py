"""Live floor state: agents, shifts, breaks, queues and the deadline heap the rules use.

`FloorState` is the single owner of the floor's mutable state; the rules
(wfm/rules/) read it and schedule deadlines on it; the engine (wfm/engine.py)
feeds it events. Times inside are float epoch seconds (fast arithmetic); the
views and outputs convert them to aware datetimes in the floor zone.
"""
from wfm.floor.model import AgentRecord, BreakRecord, BreakRequest, ShiftRecord
from wfm.floor.state import FloorState

__all__ = ["AgentRecord", "BreakRecord", "BreakRequest", "FloorState", "ShiftRecord"]
