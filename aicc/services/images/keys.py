"""The key AICC signs registry tokens with, its self-signed certificate (the bundle the registry
verifies them against) and the key id the registry looks them up by.

Kept in `$AICC_HOME/registry/` (0600): a server restarted keeps its key, so tokens it issued
before stay good until they expire and the registry need not be reconfigured.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KEY, CERT = "token.key", "token.crt"


@dataclass(frozen=True)
class SigningKey:
    private_pem: bytes
    cert_path: Path  # the `rootcertbundle` the registry reads
    kid: str


def libtrust_kid(public_key: ec.EllipticCurvePublicKey) -> str:
    """The key id Distribution 2.8 computes for a key in its bundle (docker/libtrust): base32,
    unpadded, of the first 240 bits of SHA-256 of the DER SubjectPublicKeyInfo, in 12 groups of 4
    joined by ':'. A token's `kid` header must equal it, or the registry refuses the token."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(text[i : i + 4] for i in range(0, 48, 4))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _create(folder: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aicc registry token issuer")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # the certificate first: a key without its certificate is remade below, never half-used
    _write_private(folder / CERT, cert.public_bytes(serialization.Encoding.PEM))
    _write_private(folder / KEY, pem)


@cache
def signing_key(folder: Path) -> SigningKey:
    """The key pair of `folder` (made on first use). Blocking file I/O, once per process."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (folder / KEY).exists() or not (folder / CERT).exists():
        _create(folder)
    pem = (folder / KEY).read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{folder / KEY}: not an EC key; delete it and restart to make one")
    return SigningKey(pem, folder / CERT, libtrust_kid(private.public_key()))


def registry_folder(home: Path) -> Path:
    return home / "registry"


@cache
def notify_secret(folder: Path) -> str:
    """The secret header the registry's notifications carry to AICC (made on first use)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "notify.secret"
    if not path.exists():
        _write_private(path, base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"="))
    return path.read_text().strip()
