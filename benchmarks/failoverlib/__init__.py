"""The failover scenario shared by benchmarks/failover.py (how soon a standby judges) and
tests/test_failover_postgres.py (that nothing is lost or judged twice): `scenario` runs it with real
processes (two simulated PBXs, two `wfm serve` of one floor, break requests to both, kill -9 the
judge), `checks` reads the shared log afterwards. Here, not under tests/, because a benchmark does
not import from tests/ while tests may import benchmark helpers (as tests/test_load_model.py does)."""
