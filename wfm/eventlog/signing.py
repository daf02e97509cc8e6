"""Signed checkpoints: an Ed25519 signature over the chain's head, appended to the log itself.

A hash chain alone is recomputable: whoever can write the database can edit a
record and recompute every later hash. A checkpoint is an `audit` record
`{"type": "checkpoint", "covers_seq", "covers_hash", "key_id", "signed_at",
"signature"}` whose signature (Ed25519, over the canonical JSON of the other
fields plus `"v": 1`) only the holder of the private key can make. Verifying
with the public key turns every checkpoint into an anchor nobody without the
key can move; `wfm log checkpoint --export` hands the latest one out of the
host (a ticket, an e-mail, WORM storage) so a cut tail is caught as well.

The private key is a PEM file (PKCS#8, unencrypted) or the PEM text in an
environment variable, kept outside the data folder. A key is named by its
`key_id`: the first 16 hex digits of SHA-256 over the raw public key. Key
rotation: sign with the new key from some record on; verify with every public
key that signed part of the log (docs/deployment.md).
"""
from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CHECKPOINT_TYPE = "checkpoint"
VERSION = 1
_encoder = msgspec.json.Encoder(order="sorted")
_SIGNED_FIELDS = ("covers_hash", "covers_seq", "key_id", "signed_at")


class SigningKeyError(ValueError):
    """A key cannot be read or is not an Ed25519 key (names the file or variable)."""


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _signed_message(body: Mapping[str, Any]) -> bytes:
    return _encoder.encode({"v": VERSION, **{name: body.get(name) for name in _SIGNED_FIELDS}})


def is_checkpoint(kind: str, body: Mapping[str, Any]) -> bool:
    return kind == "audit" and body.get("type") == CHECKPOINT_TYPE


class Signer:
    """Makes checkpoint bodies with one private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.key_id = key_id(private_key.public_key())

    def public_pem(self) -> str:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def checkpoint(self, covers_seq: int, covers_hash: str, signed_at: datetime | None = None) -> dict[str, Any]:
        """The body of a checkpoint record over the record (covers_seq, covers_hash)."""
        when = (signed_at or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")
        body: dict[str, Any] = {"type": CHECKPOINT_TYPE, "covers_seq": covers_seq, "covers_hash": covers_hash,
                                "key_id": self.key_id, "signed_at": when}
        body["signature"] = base64.b64encode(self._key.sign(_signed_message(body))).decode("ascii")
        return body


def generate_private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def load_signer(path: str = "", env: str = "") -> Signer | None:
    """The signer of the key in env variable `env` (PEM text) if set, else in file `path`; None when neither."""
    text: bytes | None = None
    where = ""
    if env and os.environ.get(env):
        text, where = os.environ[env].encode("utf-8"), f"${env}"
    elif path:
        where = path
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"{path}: cannot read the signing key: {exc.strerror}") from None
    if text is None:
        return None
    try:
        key = serialization.load_pem_private_key(text, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{where}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{where}: not an Ed25519 key")
    return Signer(key)


def load_public_keys(paths: Iterable[str]) -> dict[str, Ed25519PublicKey]:
    """key_id -> public key, from PEM files (a public key, or a private key whose public half is used)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"{path}: cannot read: {exc.strerror}") from None
        try:
            key = serialization.load_pem_public_key(text)
        except ValueError:
            try:
                key = serialization.load_pem_private_key(text, password=None).public_key()
            except (ValueError, TypeError) as exc:
                raise SigningKeyError(f"{path}: not a PEM key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError(f"{path}: not an Ed25519 key")
        keys[key_id(key)] = key
    return keys


def signature_problem(body: Mapping[str, Any], public_keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    """Why a checkpoint body does not verify with the given keys (None when it does)."""
    kid = body.get("key_id")
    if not isinstance(body.get("covers_seq"), int) or not isinstance(body.get("covers_hash"), str):
        return "malformed checkpoint (covers_seq / covers_hash)"
    key = public_keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        known = ", ".join(sorted(public_keys)) or "none"
        return f"signed by key {kid}, which is not among the given public keys ({known})"
    try:
        key.verify(base64.b64decode(str(body.get("signature", "")), validate=True), _signed_message(body))
    except (InvalidSignature, ValueError):
        return f"signature does not verify with public key {kid}: forged or altered"
    return None
