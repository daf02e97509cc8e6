"""Curtois & Qu nurse-rostering benchmark (schedulingbenchmarks.org instances1_24).

parser.py reads the text format with line-numbered errors; model.py builds
the CP-SAT model and solve.py searches it; evaluate.py recomputes the benchmark's penalty
from a roster independently of the model (no shared code but the instance).
"""
