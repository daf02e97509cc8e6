"""Accounts and password checks: who may log in, with which role.

Accounts come from the config's `[[users]]` (argon2 hashes, never plain
passwords). Roles are a closed set; an `agent` account maps to one agent id
and may only read and act for that agent. This module knows nothing of HTTP:
the API (wfm/api/) asks it to verify a login and to answer role questions.
"""
from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Iterable

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from wfm.config import UserConfig

logger = logging.getLogger(__name__)


class Role(str, enum.Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    SCHEDULER = "scheduler"
    ADMIN = "admin"


ALL_ROLES: frozenset[Role] = frozenset(Role)
FLOOR_READERS: frozenset[Role] = frozenset({Role.SUPERVISOR, Role.SCHEDULER, Role.ADMIN})
FLOOR_ACTORS: frozenset[Role] = frozenset({Role.SUPERVISOR, Role.ADMIN})
ROSTER_EDITORS: frozenset[Role] = frozenset({Role.SCHEDULER, Role.ADMIN})


class AccountConfigError(ValueError):
    """The `[[users]]` table is inconsistent (names the offending entry)."""


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """A user who may log in. `agent` is set exactly for role `agent`."""

    username: str
    role: Role
    agent: str | None = None

    def may_act_for(self, agent: str) -> bool:
        """Agents only for themselves; supervisors and admins for anyone."""
        if self.role is Role.AGENT:
            return self.agent == agent
        return self.role in FLOOR_ACTORS

    def may_read(self, agent: str) -> bool:
        """Agents only their own budget; floor readers everyone's."""
        if self.role is Role.AGENT:
            return self.agent == agent
        return self.role in FLOOR_READERS


class Accounts:
    """The configured accounts with argon2 password verification.

    Verification runs in a thread (argon2 is deliberately slow, ~50 ms) and
    costs the same for an unknown user name as for a wrong password, so a
    login's timing does not tell which user names exist.
    """

    def __init__(self, users: Iterable[UserConfig]) -> None:
        self._hasher = PasswordHasher()
        self._accounts: dict[str, tuple[Account, str]] = {}
        for index, user in enumerate(users):
            key = user.username
            if key in self._accounts:
                raise AccountConfigError(f"users[{index}].username: duplicate user {key!r}")
            role = Role(user.role)
            if role is Role.AGENT and not user.agent:
                raise AccountConfigError(f"users[{index}].agent: an agent account needs an agent id")
            if not user.password_hash.startswith("$argon2"):
                raise AccountConfigError(f"users[{index}].password_hash: not an argon2 hash")
            account = Account(username=key, role=role, agent=user.agent or None)
            self._accounts[key] = (account, user.password_hash)
        # A real hash to verify against for unknown users (equal timing).
        self._dummy_hash = self._hasher.hash("wfm-no-such-user")

    def __len__(self) -> int:
        return len(self._accounts)

    def get(self, username: str) -> Account | None:
        entry = self._accounts.get(username)
        return entry[0] if entry else None

    def verify_sync(self, username: str, password: str) -> Account | None:
        """The account when the password matches, else None (never raises on bad input)."""
        entry = self._accounts.get(username)
        stored = entry[1] if entry else self._dummy_hash
        try:
            self._hasher.verify(stored, password)
        except VerifyMismatchError:
            return None
        except (VerificationError, InvalidHashError):
            logger.warning("login: stored hash of user %r cannot be verified", username)
            return None
        return entry[0] if entry else None

    async def verify(self, username: str, password: str) -> Account | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.verify_sync, username, password)


def hash_password(password: str) -> str:
    """An argon2id hash for `[[users]].password_hash`."""
    return PasswordHasher().hash(password)


def main(argv: list[str] | None = None) -> int:
    """`python -m wfm.auth`: print an argon2 hash for a `[[users]]` entry's password_hash.

    The password is read without echo from the terminal, or as one line from stdin.
    """
    import getpass
    import sys

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            sys.stderr.write("wfm.auth: the two passwords differ\n")
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        sys.stderr.write("wfm.auth: empty password refused\n")
        return 2
    sys.stdout.write(hash_password(password) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
