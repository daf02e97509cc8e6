"""FreeSWITCH event socket (ESL, inbound): sans-I/O framing (protocol.py), mod_callcenter
mapping (mapping.py), the live adapter (client.py) and capture replay (offline.py)."""
