"""The simulated PBX floor: a seeded day model (model.py), its §1 JSON lines
(jsonl.py), and a real Asterisk AMI server over it (ami_server.py, ami_codec.py)."""
