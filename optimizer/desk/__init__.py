"""The scheduler's desk: the roster workflow the API offers, over folders on disk.

It builds on the optimizer's parts and nothing below imports it: demand
(optimizer.demand), the solver (optimizer.roster), the independent checker
(optimizer.checker) and the published formats (optimizer.publish).

- `desk.RosterDesk(config, jobs_dir, roster_dir, sample_dir)`: every roster operation of the API
  (demand preview, solver runs, versions and the publish gate, edits, swaps, requests)
- `jobs`: solver runs, each a folder solved in a background thread
"""
