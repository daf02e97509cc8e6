"""The simulated PBX floor: a seeded day model (model.py), its §1 JSON lines
(jsonl.py), a real Asterisk AMI server over it (ami_server.py, ami_codec.py) and a
FreeSWITCH mod_callcenter event socket over the same floor (esl_server.py)."""
