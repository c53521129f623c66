"""Secrets at rest: project secrets are sealed (Fernet: AES-128-CBC with HMAC-SHA256) before
they reach the database, so a copied database or backup does not give them away.

The key lives outside the database: `$AICC_HOME/secret.key` (0600), made on first start, or a
file named by `secret_key_file` that every server sharing one database reads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SealError(ValueError):
    """A sealed value that this key cannot open (a different key, or a damaged value)."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._mac_key = hashlib.sha256(b"aicc-mac:" + key).digest()  # never the sealing key

    def mac(self, value: str) -> str:
        """A keyed digest of `value` (HMAC-SHA256, URL-safe): a credential the server can derive
        again at any time without storing it, e.g. a notebook's token."""
        digest = hmac.new(self._mac_key, value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    @classmethod
    def from_file(cls, path: Path) -> Sealer:
        """Read the key, or make one (mode 0600) when the file does not exist yet."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealError("a secret was sealed with another key; set secret_key_file") from None
