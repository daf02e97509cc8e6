"""Real accounts (issue 19 items 1 and 3): `wfm serve` refuses the shipped demo logins and
default secrets; `wfm user` keeps the users file; a storage-URL password is never printed.

Every check runs the real `wfm` command in a subprocess, in a temporary working folder
(the users file lives in its data folder).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

WFM = [sys.executable, "-m", "wfm.cli"]
PASSWORD = "a-floor-password"
DB_SECRET = "Pg-S3cret-xyz"


def wfm(cwd: Path, *argv: str, stdin: str = "", env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*WFM, *argv], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def feed_toml(protocol: str = "ami", secret: str = "", port: int | None = None) -> str:
    return (f'[[pbx.feeds]]\nprotocol = "{protocol}"\nhost = "127.0.0.1"\nport = {port or free_port()}\n'
            f'username = "wfm"\nsecret_env = ""\nsecret = "{secret}"\ndevice = ""\nbaudrate = 9600\nbytesize = 8\n'
            'parity = "N"\nstopbits = 1\nprofile = "auto"\nagents = []\ntransport = "udp"\n')


def site(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "wfm.sqlite"}"\n' + text, encoding="utf-8")
    return path


def test_serve_refuses_the_shipped_demo_accounts(tmp_path):
    config = site(tmp_path, feed_toml())
    result = wfm(tmp_path, "serve", "--port", "0", "--config", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to serve" in lines[0] and "'admin'" in lines[0], result.stderr
    assert result.stdout == ""


def test_serve_refuses_a_demo_password_even_under_a_new_hash(tmp_path):
    from wfm.auth import hash_password

    config = site(tmp_path, feed_toml() + f'[[users]]\nusername = "supervisor"\nrole = "supervisor"\nagent = ""\n'
                  f'password_hash = "{hash_password("supervisor")}"\n')
    result = wfm(tmp_path, "serve", "--port", "0", "--config", str(config))
    assert result.returncode == 2 and "demo account 'supervisor' still has its demo password" in result.stderr


def test_serve_refuses_a_vendor_default_pbx_secret(tmp_path):
    config = site(tmp_path, feed_toml("esl", secret="ClueCon"))
    assert wfm(tmp_path, "user", "add", "alice", "--role", "admin", "--config", str(config), stdin=PASSWORD + "\n").returncode == 0
    result = wfm(tmp_path, "serve", "--port", "0", "--config", str(config))
    assert result.returncode == 2 and "pbx.feeds[0] secret is FreeSWITCH's default ESL password" in result.stderr
    assert result.stderr.count("\n") == 1


def test_serve_refuses_without_an_admin(tmp_path):
    config = site(tmp_path, feed_toml())
    assert wfm(tmp_path, "user", "add", "sam", "--role", "supervisor", "--config", str(config), stdin=PASSWORD + "\n").returncode == 0
    result = wfm(tmp_path, "serve", "--port", "0", "--config", str(config))
    assert result.returncode == 2 and "no admin account" in result.stderr and "wfm user add" in result.stderr


def test_user_commands_keep_the_users_file(tmp_path):
    config = site(tmp_path, "")
    run = lambda *argv, stdin="": wfm(tmp_path, *argv, "--config", str(config), stdin=stdin)  # noqa: E731
    assert run("user", "add", "alice", "--role", "admin", stdin=PASSWORD + "\n").returncode == 0
    assert run("user", "add", "a1001", "--role", "agent", "--agent", "1001", stdin=PASSWORD + "\n").returncode == 0
    refused = run("user", "add", "bob", "--role", "agent", stdin=PASSWORD + "\n")
    assert refused.returncode == 2 and "agent id" in refused.stderr
    short = run("user", "add", "carol", "--role", "scheduler", stdin="short\n")
    assert short.returncode == 2 and "shorter than" in short.stderr
    again = run("user", "add", "alice", "--role", "admin", stdin=PASSWORD + "\n")
    assert again.returncode == 2 and "exists" in again.stderr
    path = tmp_path / "data" / "users.toml"
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert "$argon2id$" in text and PASSWORD not in text
    listed = json.loads(run("user", "list", "--json").stdout)
    # the users file replaced the shipped demo accounts
    assert [(u["username"], u["role"], u["agent"]) for u in listed["users"]] == [("a1001", "agent", "1001"), ("alice", "admin", "")]
    assert listed["unsafe"] == []
    assert run("user", "passwd", "alice", stdin="another-password\n").returncode == 0
    assert run("user", "disable", "a1001").returncode == 0
    listed = json.loads(run("user", "list", "--json").stdout)
    assert [u["username"] for u in listed["users"]] == ["alice"] and listed["disabled"] == ["a1001"]
    from wfm.auth import Accounts
    from wfm.config import load_config
    from wfm.users import effective_users, load_entries

    accounts = Accounts(effective_users(load_config(config), load_entries(path)))
    assert accounts.verify_sync("alice", "another-password") is not None
    assert accounts.verify_sync("alice", PASSWORD) is None
    assert accounts.verify_sync("a1001", PASSWORD) is None  # disabled
    assert accounts.verify_sync("admin", "admin") is None  # the demo account is gone


def test_user_list_flags_the_demo_accounts_while_they_are_active(tmp_path):
    listed = json.loads(wfm(tmp_path, "user", "list", "--json", "--config", str(site(tmp_path, ""))).stdout)
    assert {u["username"] for u in listed["users"]} == {"admin", "supervisor", "scheduler", "1001", "1002"}
    assert len(listed["unsafe"]) == 5


@pytest.mark.timeout(120)
def test_serve_starts_with_a_cli_made_admin_and_the_demo_logins_fail(tmp_path):
    config = site(tmp_path, feed_toml())
    assert wfm(tmp_path, "user", "add", "alice", "--role", "admin", "--config", str(config), stdin=PASSWORD + "\n").returncode == 0
    proc = subprocess.Popen([*WFM, "serve", "--port", "0", "--config", str(config)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        first = proc.stdout.readline().strip()
        assert first.endswith("/wall"), (first, proc.stderr.read() if proc.poll() is not None else "")
        base = first[: -len("/wall")]
        assert login(base, "alice", PASSWORD) == 200
        assert login(base, "admin", "admin") == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def login(base: str, user: str, password: str) -> int:
    request = urllib.request.Request(base + "/api/login", data=json.dumps({"username": user, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


# ── the storage URL's password is never printed ─────────────────────────────

def test_config_show_masks_the_storage_password_in_text_and_json(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text(f'[storage]\nurl = "postgresql://wfm:{DB_SECRET}@db.example:5432/wfm?sslpassword={DB_SECRET}"\n')
    for argv in (("config", "show"), ("config", "show", "--json"), ("--json", "config", "show")):
        result = wfm(tmp_path, *argv, "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert DB_SECRET not in result.stdout + result.stderr
        assert "postgresql://wfm:********@db.example:5432/wfm" in result.stdout


def test_no_command_prints_the_storage_password_when_the_database_is_down(tmp_path):
    url = f"postgresql://wfm:{DB_SECRET}@127.0.0.1:{free_port()}/wfm"
    config = tmp_path / "site.toml"
    config.write_text(f'[storage]\nurl = "{url}"\n' + feed_toml())
    assert wfm(tmp_path, "user", "add", "alice", "--role", "admin", "--config", str(config), stdin=PASSWORD + "\n").returncode == 0
    runs = [wfm(tmp_path, "-vv", "serve", "--port", "0", "--config", str(config)),
            wfm(tmp_path, "-vv", "log", "verify", "--config", str(config)),
            wfm(tmp_path, "-vv", "log", "verify", "--db", url),
            wfm(tmp_path, "-vv", "log", "export", "--config", str(config)),
            wfm(tmp_path, "-vv", "user", "list", "--config", str(config))]
    for result in runs:
        assert DB_SECRET not in result.stdout + result.stderr, result.args
    assert runs[0].returncode == 2 and "storage.url postgresql://wfm:********@127.0.0.1" in runs[0].stderr


@pytest.mark.timeout(120)
def test_a_running_server_never_prints_the_storage_password(tmp_path, pg_server):
    base_url = pg_server.new_database()  # trust authentication: the password is accepted and ignored
    url = base_url.replace("postgresql://postgres@", f"postgresql://postgres:{DB_SECRET}@")
    config = tmp_path / "site.toml"
    config.write_text(f'[storage]\nurl = "{url}"\n' + feed_toml())
    assert wfm(tmp_path, "user", "add", "alice", "--role", "admin", "--config", str(config), stdin=PASSWORD + "\n").returncode == 0
    proc = subprocess.Popen([*WFM, "-vv", "serve", "--port", "0", "--config", str(config)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    seen = ""
    try:
        first = proc.stdout.readline()
        seen += first
        assert first.strip().endswith("/wall"), proc.stderr.read() if proc.poll() is not None else first
        base = first.strip()[: -len("/wall")]
        for path in ("/api/health", "/api/openapi.json", "/api/wall"):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                seen += response.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    seen += out + err
    assert "wfm_test" in seen or "/api/" in seen  # something was printed
    assert DB_SECRET not in seen
