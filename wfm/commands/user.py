"""`wfm user add | passwd | disable | list`: the accounts in the users file (argon2id).

    wfm user add NAME --role admin|supervisor|scheduler|agent [--agent ID]
    wfm user passwd NAME
    wfm user disable NAME
    wfm user list [--json]

The file is `api.users_file` (default `data/users.toml`, beside the log);
`wfm serve` reads it over the config's `[[users]]` (wfm/users.py). The
password is read without echo from the terminal (twice), or as one line from
stdin (`echo "$PW" | wfm user add …`). The first admin of a new site is made
here: `wfm user add alice --role admin`.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys

from wfm.commands import CliError, load_config

MIN_PASSWORD_LENGTH = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("add", "create an account (the password is asked for)"),
                       ("passwd", "set a new password for an account"),
                       ("disable", "switch an account off (it can no longer log in)"),
                       ("list", "the accounts a server would use, without their hashes")):
        sub = actions.add_parser(name, help=text, description=text)
        sub.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="site TOML merged over the shipped defaults")
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine output on stdout (JSON only)")
        if name != "list":
            sub.add_argument("username", metavar="NAME")
        if name == "add":
            sub.add_argument("--role", required=True, choices=["admin", "supervisor", "scheduler", "agent"])
            sub.add_argument("--agent", default="", metavar="ID", help="the agent id (required for role agent)")


def read_password(username: str) -> str:
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {username}: ")
        if getpass.getpass("again: ") != password:
            raise CliError("wfm user: the two passwords differ", 2)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CliError(f"wfm user: password refused: shorter than {MIN_PASSWORD_LENGTH} characters", 2)
    if password == username:
        raise CliError("wfm user: password refused: it equals the user name", 2)
    return password


def run(args: argparse.Namespace) -> int:
    from wfm.auth import hash_password
    from wfm.users import UserEntry, UsersFileError, effective_users, load_entries, save_entries, users_path

    config = load_config(args)
    path = users_path(config)
    try:
        entries = load_entries(path)
        by_name = {e.username: e for e in entries}
        if args.action == "list":
            return _list(args, config, entries, effective_users(config, entries), path)
        name = args.username
        if args.action == "add":
            if name in by_name and not by_name[name].disabled:
                raise CliError(f"{path}: user {name!r} exists; use `wfm user passwd {name}`", 2)
            if args.role == "agent" and not args.agent:
                raise CliError("--agent: an agent account needs its agent id", 2)
            if args.role != "agent" and args.agent:
                raise CliError("--agent: only role agent has an agent id", 2)
            entry = UserEntry(username=name, role=args.role, agent=args.agent,
                              password_hash=hash_password(read_password(name)))
        else:
            current = by_name.get(name) or next(
                (UserEntry(username=u.username, role=u.role, agent=u.agent, password_hash=u.password_hash)
                 for u in effective_users(config, entries) if u.username == name), None)
            if current is None:
                raise CliError(f"{path}: no user {name!r} (see `wfm user list`)", 2)
            if args.action == "passwd":
                entry = UserEntry(username=name, role=current.role, agent=current.agent,
                                  password_hash=hash_password(read_password(name)))
            else:
                entry = UserEntry(username=name, role=current.role, agent=current.agent,
                                  password_hash=current.password_hash, disabled=True)
        by_name[name] = entry
        save_entries(path, list(by_name.values()))
    except UsersFileError as exc:
        raise CliError(str(exc), 2) from None
    done = {"add": "added", "passwd": "password changed for", "disable": "disabled"}[args.action]
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"user": name, "action": args.action, "file": str(path)}) + "\n")
    else:
        sys.stdout.write(f"{done} {name} ({entry.role}) in {path}\n")
    return 0


def _list(args, config, entries, users, path) -> int:
    from wfm.users import unsafe_defaults

    disabled = sorted(e.username for e in entries if e.disabled)
    unsafe = unsafe_defaults(config, users)
    rows = [{"username": u.username, "role": u.role, "agent": u.agent,
             "source": "users file" if any(e.username == u.username for e in entries) else "config"}
            for u in sorted(users, key=lambda u: u.username)]
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"file": str(path), "users": rows, "disabled": disabled, "unsafe": unsafe},
                                    ensure_ascii=False) + "\n")
        return 0
    for row in rows:
        sys.stdout.write(f"{row['username']:<20} {row['role']:<10} {row['agent'] or '-':<8} {row['source']}\n")
    for name in disabled:
        sys.stdout.write(f"{name:<20} (disabled)\n")
    for line in unsafe:
        sys.stdout.write(f"unsafe: {line}\n")
    return 0
