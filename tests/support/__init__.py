"""Test helpers (no tests here): a throw-away PostgreSQL and Kamailio, the runtime doubles, the rules kit."""
