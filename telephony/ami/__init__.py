"""Asterisk Manager Interface (AMI): sans-I/O protocol, event mapping, asyncio adapter."""
