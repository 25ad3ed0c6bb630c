"""Encryption of stored credentials: AES-256-GCM (``cryptography``).

The keys come from ``PIE_SECRET_KEY`` (comma-separated to rotate: the first encrypts, every
one decrypts) or, when it is unset, from a key file in PIE's data folder, made on first use
with mode 0600 and refused if anyone but its owner may read it. Each key is stretched with HKDF
to 256 bits. A sealed value is ``version (1) | key id (4) | nonce (12) | ciphertext+tag`` and
is bound to what it belongs to (tenant and name, as associated data), so a row copied to
another tenant or name does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pie.domain.errors import NotConfigured

VERSION = b"\x01"
NONCE_BYTES = 12
KEY_ID_BYTES = 4
MIN_KEY_CHARS = 16


class _Key:
    __slots__ = ("aead", "ident")

    def __init__(self, material: bytes) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"pie-credentials", info=b"aes-256-gcm"
        ).derive(material)
        self.ident = hashlib.sha256(derived).digest()[:KEY_ID_BYTES]
        self.aead = AESGCM(derived)

    def __repr__(self) -> str:
        return f"_Key(id={self.ident.hex()})"


class SecretBox:
    """Seals and opens values with the first of ``keys`` / any of them."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise NotConfigured("no key to encrypt credentials with")
        self._keys = [_Key(k) for k in keys]

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        key = self._keys[0]
        nonce = secrets.token_bytes(NONCE_BYTES)
        return VERSION + key.ident + nonce + key.aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """The plaintext; NotConfigured if no key of PIE's opens it (the key changed)."""
        head = 1 + KEY_ID_BYTES
        if sealed[:1] != VERSION or len(sealed) < head + NONCE_BYTES:
            raise NotConfigured("a stored credential is not in a format PIE knows")
        ident, nonce = sealed[1:head], sealed[head : head + NONCE_BYTES]
        for key in self._keys:
            if key.ident == ident:
                try:
                    return key.aead.decrypt(nonce, sealed[head + NONCE_BYTES :], context)
                except InvalidTag:
                    break
        raise NotConfigured(
            "a stored credential cannot be decrypted with PIE's key (was PIE_SECRET_KEY or "
            "the key file changed? keep the old key after the new one in PIE_SECRET_KEY, "
            "comma-separated, until the credentials are stored again)"
        )


class LazySecretBox:
    """A SecretBox made on first use, so commands that never touch a credential never read or
    create the key file."""

    def __init__(self, load: Callable[[], Sequence[bytes]]) -> None:
        self._load = load
        self._box: SecretBox | None = None
        self._lock = threading.Lock()

    def _get(self) -> SecretBox:
        with self._lock:
            if self._box is None:
                self._box = SecretBox(self._load())
            return self._box

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        return self._get().seal(plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        return self._get().open(sealed, context)


def keys_from(secret_key: str | None, key_file: Path) -> list[bytes]:
    """The keys from ``PIE_SECRET_KEY`` if set, else from (a new) ``key_file``."""
    if secret_key is not None and secret_key.strip():
        keys = [k.strip() for k in secret_key.split(",") if k.strip()]
        if any(len(k) < MIN_KEY_CHARS for k in keys):
            raise NotConfigured(
                f"PIE_SECRET_KEY: each key must be at least {MIN_KEY_CHARS} characters "
                "(use a long random string, e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`)"
            )
        return [k.encode() for k in keys]
    return [read_or_create_key_file(key_file)]


def read_or_create_key_file(path: Path) -> bytes:
    """The key in ``path``, made (random, mode 0600) if there is none yet."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.urlsafe_b64encode(secrets.token_bytes(32)) + b"\n")
    return _read_key_file(path)


def _read_key_file(path: Path) -> bytes:
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NotConfigured(
            f"the key file {path} may be read by others than its owner: "
            f"`chmod 600 {path}` (or set PIE_SECRET_KEY)"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise NotConfigured(f"the key file {path} belongs to another user (or set PIE_SECRET_KEY)")
    key = path.read_bytes().strip()
    if len(key) < MIN_KEY_CHARS:
        raise NotConfigured(f"the key file {path} is empty or too short")
    return key
