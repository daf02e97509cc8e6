"""Serial CTI feeds (generic ACD text lines and Avaya IP Office SMDR CSV on one port):
sans-I/O line protocol (protocol.py), mapping (mapping.py), the port adapter (client.py)
and capture replay (offline.py)."""
