"""SIP user agent for agent presence: sans-I/O messages, dialog-info/PIDF mapping, asyncio UDP/TCP transports."""
