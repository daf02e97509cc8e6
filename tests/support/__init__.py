"""Test helpers (no tests here): a throw-away Kamailio, the runtime doubles, the rules kit (the throw-away
PostgreSQL is benchmarks/pgserver.py, shared with the benchmarks)."""
