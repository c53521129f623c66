"""Password hashes: Argon2id, with its parameters in the stored string (PHC format,
`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), so raising them later needs no migration: a hash
made with weaker ones, or with scrypt before Argon2id came, is replaced at its owner's next
successful sign-in (`needs_rehash`).

The parameters are OWASP's first Argon2id choice (19 MiB, two passes, one lane): about 30 ms a
hash on one core, slow for a guesser, quick enough for a sign-in.
"""

from __future__ import annotations

import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
_SCRYPT = "scrypt$"  # what AICC stored before Argon2id: scrypt$<salt hex>$<digest hex>


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password: str, stored: str | None) -> bool:
    """Whether `password` is the one `stored` was made from (False for no hash or a malformed
    one: an account without a password cannot be signed in to with one)."""
    if not stored:
        return False
    if stored.startswith(_SCRYPT):
        return _check_scrypt(password, stored)
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """A hash made with other parameters than today's, or by another algorithm."""
    if stored.startswith(_SCRYPT):
        return True
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _check_scrypt(password: str, stored: str) -> bool:
    try:
        _, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)
