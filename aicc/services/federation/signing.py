"""Signed requests between sites: Ed25519 over the site called, method, path, time, a nonce and
the body's SHA-256.

A site signs each call to a peer with its private key (`federation.key_file`, made 0600 on first
start); the peer checks the signature against the public key its operator configured for that
site, and refuses an unknown site, a bad signature or a clock more than `MAX_SKEW_S` apart (a
replayed request is refused once it is that old), and a request signed for another site (one
peer cannot replay at a third what a site sent it). No shared secret travels.
Within the clock window a replay is refused by its nonce (`X-AICC-Nonce`, fresh per call and
signed): the receiver keeps each site's nonces for the window (`nonces.py`, durable, so a
restart does not reopen it) and refuses one seen before (issue 35: one signed `POST /jobs`
replayed 3 times in 10 s made 3 jobs).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

SITE, TIME, SIGNATURE = "X-AICC-Site", "X-AICC-Time", "X-AICC-Signature"
NONCE = "X-AICC-Nonce"
MAX_SKEW_S = 60.0
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class BadSignature(ValueError):
    """A request not signed by a configured peer, or signed too long ago."""


def load_key(path: Path) -> Ed25519PrivateKey:
    """This site's private key; made (PKCS#8 PEM, mode 0600) when the file is missing."""
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return key
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return loaded


def public_text(key: Ed25519PrivateKey) -> str:
    """The public key as peers configure it: base64 of the raw 32 bytes."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _message(to: str, method: str, path: str, at: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((to, method.upper(), path, at, nonce, digest)).encode()


def sign(
    key: Ed25519PrivateKey,
    site: str,
    method: str,
    path: str,
    body: bytes,
    now: datetime,
    *,
    to: str,
) -> dict[str, str]:
    """The headers that make one request to site `to` this site's (a fresh nonce each call:
    the same headers sent twice are refused the second time)."""
    at = str(int(now.timestamp()))
    nonce = secrets.token_urlsafe(18)
    signature = key.sign(_message(to, method, path, at, nonce, body))
    return {SITE: site, TIME: at, NONCE: nonce, SIGNATURE: base64.b64encode(signature).decode()}


class Signed(NamedTuple):
    """A request a configured peer signed: its site, nonce and signed time."""

    site: str
    nonce: str
    at: datetime


def check(
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    now: datetime,
    peers: Mapping[str, str],
    *,
    audience: str,
) -> Signed:
    """The calling site, its nonce and time, or BadSignature saying why it is refused.
    `audience`: this site's name, which the signature must be for. The nonce is checked for
    its form and signed; whether it was seen before is `nonces.remember`'s (the store's) to
    say."""
    site = headers.get(SITE, "")
    public = peers.get(site)
    if public is None:
        raise BadSignature(f"unknown site {site!r}: not among this site's federation.peers")
    at = headers.get(TIME, "")
    try:
        skew = abs(now.timestamp() - int(at))
    except (ValueError, OverflowError):  # not a number, or one beyond a float
        raise BadSignature(f"{TIME}: not a Unix time") from None
    if skew > MAX_SKEW_S:
        raise BadSignature(
            f"{TIME}: {skew:.0f} s from this site's clock (at most {MAX_SKEW_S:.0f})"
        )
    nonce = headers.get(NONCE, "")
    if not _NONCE.fullmatch(nonce):
        raise BadSignature(f"{NONCE}: missing, or not 16 to 64 characters of [A-Za-z0-9_-]")
    try:
        signature = base64.b64decode(headers.get(SIGNATURE, ""), validate=True)
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public))
        key.verify(signature, _message(audience, method, path, at, nonce, body))
    except (InvalidSignature, ValueError):
        raise BadSignature(f"bad signature from site {site} (for this site, {audience})") from None
    return Signed(site, nonce, datetime.fromtimestamp(int(at), UTC))
