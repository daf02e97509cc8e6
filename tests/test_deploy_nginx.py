"""The TLS reverse proxy of docs/deployment.md: a real nginx runs docs/deploy/nginx-wfm.conf in front of wfm.

Only the lines marked `@test` are rewritten (temporary ports, a self-signed certificate).
Through the proxy: HTTPS with HSTS, HTTP redirected, a login's cookie Secure, a state change
by cookie passes the Origin and CSRF checks (and a foreign Origin does not), the live wall's
WebSocket works, a 10 MB body is stopped, and the app sees the client's address, not a
spoofed X-Forwarded-For.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import re
import socket
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest

from conftest import require_tool
from support.runtime_helpers import T0, FixedClock, QueueAdapter, make_config

REPO = Path(__file__).resolve().parent.parent
SITE_CONF = REPO / "docs" / "deploy" / "nginx-wfm.conf"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def site_conf(app_port: int, http_port: int, https_port: int, cert: Path, key: Path) -> str:
    replacements = {
        "upstream": f"    server 127.0.0.1:{app_port};",
        "http": f"    listen 127.0.0.1:{http_port};",
        "https": f"    listen 127.0.0.1:{https_port} ssl http2;",
        "cert": f"    ssl_certificate     {cert};",
        "key": f"    ssl_certificate_key {key};",
    }
    lines = []
    for line in SITE_CONF.read_text().splitlines():
        marker = re.search(r"# @test (\w+)$", line)
        lines.append(replacements[marker.group(1)] if marker else line)
    return "\n".join(lines) + "\n"


@pytest.fixture
async def proxied(tmp_path):
    nginx = require_tool("nginx")["nginx"]
    from wfm.api.app import ApiServer, create_app
    from wfm.engine import FloorEngine
    from wfm.eventlog import open_log_from_config
    from wfm.events import AgentState, AgentStateEvent
    from wfm.runtime import Runtime

    config = make_config(tmp_path, cookie_secure=True, trusted_proxies=["127.0.0.1"])
    adapter = QueueAdapter()
    runtime = Runtime(config, FloorEngine(config), open_log_from_config(config), [adapter], FixedClock(T0))
    await runtime.start()
    adapter.push(AgentStateEvent(ts=T0, agent="1001", state=AgentState.READY, source=adapter.source))
    server = ApiServer(create_app(runtime, config), "127.0.0.1", 0)
    app_port = await server.start()
    cert, key = self_signed(tmp_path)
    http_port, https_port = free_port(), free_port()
    (tmp_path / "wfm.conf").write_text(site_conf(app_port, http_port, https_port, cert, key))
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(f"    {kind}_temp_path {tmp_path / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"{user}daemon off;\npid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\n"
        f"events {{}}\nhttp {{\n    access_log {tmp_path / 'access.log'};\n{temp}    include {tmp_path / 'wfm.conf'};\n}}\n")
    test = subprocess.run([nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                          capture_output=True, text=True, timeout=30)
    assert test.returncode == 0, test.stderr
    proc = subprocess.Popen([nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", https_port), timeout=0.2):
                break
        except OSError:
            await asyncio.sleep(0.05)
    context = ssl.create_default_context(cafile=str(cert))
    try:
        yield {"https": f"https://localhost:{https_port}", "http": f"http://localhost:{http_port}",
               "ssl": context, "runtime": runtime}
    finally:
        proc.terminate()
        proc.wait(10)
        await server.stop()
        await runtime.stop()


async def test_nginx_config_serves_the_app_over_tls(proxied):
    base, context = proxied["https"], proxied["ssl"]
    connector = aiohttp.TCPConnector(ssl=context)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar()) as session:
        async with session.get(base + "/api/health") as r:
            assert r.status == 200 and "max-age=31536000" in r.headers["Strict-Transport-Security"]
        async with session.get(proxied["http"] + "/wall", allow_redirects=False) as r:
            assert r.status == 301 and r.headers["Location"].startswith("https://localhost")

        async with session.post(base + "/api/login", json={"username": "supervisor", "password": "supervisor"},
                                headers={"Origin": base, "X-Forwarded-For": "6.6.6.6"}) as r:
            assert r.status == 200
            csrf = (await r.json())["csrf_token"]
            assert "secure" in r.headers["Set-Cookie"].lower()
        body = {"agent": "1001", "action": "allow_break", "note": "through the proxy"}
        async with session.post(base + "/api/overrides", json=body, headers={"Origin": "https://evil.example",
                                                                            "X-CSRF-Token": csrf}) as r:
            assert r.status == 403
        async with session.post(base + "/api/overrides", json=body, headers={"Origin": base, "X-CSRF-Token": csrf}) as r:
            assert r.status == 200, await r.text()

        ws = await session.ws_connect(base.replace("https", "wss") + "/ws/wall")
        message = await ws.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.TEXT and '"type"' in message.data
        await ws.close()

        async with session.post(base + "/api/logout", data=b"x" * (10 * 1024 * 1024),
                                headers={"Content-Type": "application/json"}) as r:
            assert r.status == 413

    logins = [r.body for r in proxied["runtime"].log.read(kinds=["audit"]) if r.body.get("type") == "login"]
    assert logins and logins[-1]["address"] == "127.0.0.1"  # nginx's own view of the client, not the spoofed header
