"""Where accounts live: the users file in the data folder, over the config's `[[users]]`.

`wfm user add|passwd|disable|list` keep the users file (`api.users_file`,
default `data/users.toml`, mode 0600, replaced atomically). The accounts a
server uses are the config's `[[users]]` with the file's entries over them by
user name; a disabled entry switches an account off. Once the file holds an
entry, the shipped demo accounts of defaults.toml are no longer loaded (a
site file's own `[[users]]` still are).

`unsafe_defaults` names what must not be live on a real floor: a shipped demo
login (admin/admin …) or a PBX secret that is a product's documented default
(FreeSWITCH's ESL `ClueCon`, FreePBX's AMI `amp111`). This module does file
I/O and password checks; it knows nothing of HTTP.
"""
from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Literal

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wfm.config import Config, UserConfig, default_data

Role = Literal["agent", "supervisor", "scheduler", "admin"]

# The shipped demo logins (defaults.toml [[users]]): each password is its user name.
DEMO_LOGINS: dict[str, str] = {name: name for name in ("admin", "supervisor", "scheduler", "1001", "1002")}
# Vendor default secrets of the PBX interfaces the product reads.
DEFAULT_PBX_SECRETS: dict[str, str] = {"ClueCon": "FreeSWITCH's default ESL password",
                                       "amp111": "FreePBX's default AMI secret"}


class UsersFileError(ValueError):
    """The users file cannot be read or written; the message names the file and entry."""


class UserEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    username: str
    role: Role
    agent: str = ""
    password_hash: str
    disabled: bool = False

    def as_config(self) -> UserConfig:
        return UserConfig(username=self.username, role=self.role, agent=self.agent,
                          password_hash=self.password_hash)


class _UsersFile(msgspec.Struct, forbid_unknown_fields=True):
    users: list[UserEntry] = []


def users_path(config: Config) -> Path:
    return Path(config.api.users_file)


def load_entries(path: Path) -> list[UserEntry]:
    """The file's entries ([] when it does not exist); UsersFileError names the bad entry."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UsersFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
        entries = msgspec.convert(data, _UsersFile).users
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise UsersFileError(f"{path}: {exc}") from None
    names = set()
    for index, entry in enumerate(entries):
        if entry.username in names:
            raise UsersFileError(f"{path}: users[{index}].username: duplicate user {entry.username!r}")
        names.add(entry.username)
    return entries


def save_entries(path: Path, entries: list[UserEntry]) -> None:
    """Write the file atomically with mode 0600 (it holds password hashes)."""
    import tomli_w

    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# wfm accounts: edit with `wfm user add|passwd|disable|list` (argon2id hashes)\n"
    text += tomli_w.dumps({"users": [msgspec.to_builtins(e) for e in entries]})
    fd, tmp = tempfile.mkstemp(prefix=".users-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsersFileError(f"{path}: cannot write: {exc.strerror}") from None


def _shipped_users() -> list[UserConfig]:
    return msgspec.convert(default_data()["users"], list[UserConfig])


def effective_users(config: Config, entries: list[UserEntry]) -> list[UserConfig]:
    """The accounts a server uses: config `[[users]]`, then the file's entries over them by name."""
    base = list(config.users)
    if entries and base == _shipped_users():
        base = []  # the users file replaces the shipped demo accounts
    by_name = {user.username: user for user in base}
    for entry in entries:
        if entry.disabled:
            by_name.pop(entry.username, None)
        else:
            by_name[entry.username] = entry.as_config()
    return list(by_name.values())


def unsafe_defaults(config: Config, users: list[UserConfig]) -> list[str]:
    """One line per shipped demo login or default secret that is active (empty when none)."""
    hasher = PasswordHasher()
    shipped_hashes = {user.password_hash for user in _shipped_users()}
    found: list[str] = []
    for user in users:
        demo_password = DEMO_LOGINS.get(user.username)
        if user.password_hash in shipped_hashes:
            found.append(f"demo account {user.username!r} has a shipped password hash")
            continue
        if demo_password is None:
            continue
        try:
            if hasher.verify(user.password_hash, demo_password):
                found.append(f"demo account {user.username!r} still has its demo password")
        except (VerificationError, InvalidHashError):
            pass
    for index, feed in enumerate(config.pbx.feeds):
        secret = feed.resolved_secret()
        if secret in DEFAULT_PBX_SECRETS:
            found.append(f"pbx.feeds[{index}] secret is {DEFAULT_PBX_SECRETS[secret]}")
    return found
