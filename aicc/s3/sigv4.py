"""AWS Signature Version 4, as S3 checks it: in the `Authorization` header or in the query of a
presigned URL. Pure: the caller hands in the request's parts and the key's secret, and the time.

What is signed is the canonical request: the method, the path as the client sent it (S3 does not
encode it twice), the query sorted, the headers the client names (`host` always among them) and
the payload's hash as the client declares it in `x-amz-content-sha256` (`UNSIGNED-PAYLOAD`, or
the hex SHA-256 of the body, which the caller checks against the body it read, or an aws-chunked
body's `STREAMING-...` name, whose chunks `chunked.py` decodes and checks). A request more
than 15 minutes from the server's clock is refused (a replay must happen within that window);
a presigned URL also stops at its `X-Amz-Expires`. Signatures are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
# aws-chunked bodies (`chunked.py`): each chunk signed, or unsigned with a trailing checksum
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING = frozenset({STREAMING_SIGNED, STREAMING_TRAILER})
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
SKEW = timedelta(minutes=15)
MAX_EXPIRES_S = 7 * 24 * 3600  # S3's own longest presigned URL
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_KEY_ID = re.compile(r"^[A-Za-z0-9]{16,32}$")


class SignatureError(Exception):
    """A request whose signature cannot be accepted; `code` is S3's error code for it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Signed:
    """What a request claims: its key, when, its scope, the headers it signs, its signature."""

    access_key_id: str
    amz_date: str
    scope: str  # DATE/REGION/s3/aws4_request
    signed_headers: tuple[str, ...]
    signature: str
    payload: str  # what x-amz-content-sha256 says, UNSIGNED-PAYLOAD for a presigned URL
    presigned: bool
    expires_s: int = 0


def _malformed(message: str) -> SignatureError:
    return SignatureError("AuthorizationHeaderMalformed", message)


def _fields(text: str) -> dict[str, str]:
    found = {}
    for part in text.split(","):
        key, eq, value = part.strip().partition("=")
        if eq:
            found[key.strip()] = value.strip()
    return found


def parse(
    method: str, headers: Mapping[str, str], query: Sequence[tuple[str, str]]
) -> Signed | None:
    """What the request claims, or None when it carries no signature at all (anonymous)."""
    auth = headers.get("authorization")
    params = dict(query)
    if auth is not None:
        algorithm, _, rest = auth.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise SignatureError(
                "InvalidRequest", "only AWS Signature Version 4 (AWS4-HMAC-SHA256) is accepted"
            )
        fields = _fields(rest)
        credential, signed, signature = (
            fields.get("Credential"),
            fields.get("SignedHeaders"),
            fields.get("Signature"),
        )
        if not credential or not signed or not signature:
            raise _malformed(
                "the Authorization header lacks Credential, SignedHeaders or Signature"
            )
        amz_date = headers.get("x-amz-date", "")
        payload = headers.get("x-amz-content-sha256", "")
        if not payload:
            raise SignatureError(
                "InvalidRequest", "missing x-amz-content-sha256: sign the payload's hash"
            )
        presigned, expires = False, 0
    elif "X-Amz-Signature" in params or "X-Amz-Algorithm" in params:
        if params.get("X-Amz-Algorithm") != ALGORITHM:
            raise SignatureError(
                "AuthorizationQueryParametersError", "X-Amz-Algorithm must be AWS4-HMAC-SHA256"
            )
        credential = params.get("X-Amz-Credential")
        signed = params.get("X-Amz-SignedHeaders")
        signature = params.get("X-Amz-Signature")
        amz_date = params.get("X-Amz-Date", "")
        raw_expires = params.get("X-Amz-Expires", "")
        if not credential or not signed or not signature or not raw_expires.isdigit():
            raise SignatureError(
                "AuthorizationQueryParametersError",
                "a presigned URL carries X-Amz-Credential, -Date, -Expires, -SignedHeaders and "
                "-Signature",
            )
        expires = int(raw_expires[:12])
        if not 1 <= expires <= MAX_EXPIRES_S:
            raise SignatureError(
                "AuthorizationQueryParametersError",
                f"X-Amz-Expires must be 1 to {MAX_EXPIRES_S} seconds",
            )
        payload, presigned = headers.get("x-amz-content-sha256", UNSIGNED), True
    elif "AWSAccessKeyId" in params or "Signature" in params:
        raise SignatureError(
            "InvalidRequest",
            "only AWS Signature Version 4 is accepted: presign with signature_version='s3v4'",
        )
    else:
        return None
    parts = credential.split("/")
    if len(parts) != 5 or parts[3] != "s3" or parts[4] != "aws4_request":
        raise _malformed("Credential must be KEY/DATE/REGION/s3/aws4_request")
    if not _KEY_ID.match(parts[0]):
        raise SignatureError("InvalidAccessKeyId", "no such access key")
    if not _DATE.match(amz_date):
        raise SignatureError(
            "AccessDenied", "x-amz-date (or X-Amz-Date) must be the time as YYYYMMDDTHHMMSSZ"
        )
    if parts[1] != amz_date[:8]:
        raise _malformed("the Credential's date is not the day of x-amz-date")
    names = tuple(signed.split(";"))
    if "host" not in names or any(n != n.lower() or not n for n in names):
        raise _malformed("SignedHeaders are lower-case header names, host among them")
    if payload != UNSIGNED and payload not in STREAMING and not _HEX64.match(payload):
        raise SignatureError(
            "InvalidArgument",
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, the body's hex SHA-256, "
            f"{STREAMING_SIGNED} or {STREAMING_TRAILER}",
        )
    return Signed(
        access_key_id=parts[0],
        amz_date=amz_date,
        scope="/".join(parts[1:]),
        signed_headers=names,
        signature=signature,
        payload=payload,
        presigned=presigned,
        expires_s=expires,
    )


def check_time(signed: Signed, now: datetime) -> None:
    """Within 15 minutes of now; a presigned URL also before its expiry."""
    at = datetime.strptime(signed.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if signed.presigned:
        if now > at + timedelta(seconds=signed.expires_s):
            raise SignatureError("AccessDenied", "Request has expired")
        if at - now > SKEW:
            raise SignatureError(
                "RequestTimeTooSkewed", "the URL's X-Amz-Date is ahead of the server's clock"
            )
    elif abs(now - at) > SKEW:
        raise SignatureError(
            "RequestTimeTooSkewed",
            "the difference between the request time and the server's time is too large "
            "(more than 15 minutes)",
        )


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_query(raw_query: str, *, presigned: bool) -> str:
    """The query as signed: each name and value percent-encoded once, sorted; a presigned URL's
    own signature left out."""
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        name, value = unquote(name), unquote(value)
        if presigned and name == "X-Amz-Signature":
            continue
        pairs.append((_encode(name), _encode(value)))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, Sequence[str]],
    signed: Signed,
) -> str:
    """`headers` by lower-case name, each with every value the request carried."""
    lines = []
    for name in signed.signed_headers:
        values = headers.get(name)
        if values is None:
            raise SignatureError(
                "AccessDenied", f"header {name!r} is signed but not in the request"
            )
        lines.append(f"{name}:" + ",".join(" ".join(v.split()) for v in values))
    return "\n".join(
        [
            method,
            raw_path or "/",
            canonical_query(raw_query, presigned=signed.presigned),
            *lines,
            "",
            ";".join(signed.signed_headers),
            signed.payload,
        ]
    )


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, signed: Signed) -> bytes:
    """The key derived for the request's day, region and service, which signs it (and each
    chunk of an aws-chunked body)."""
    day, region, service, terminator = signed.scope.split("/")
    return _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), day), region), service), terminator)


def signature(secret: str, signed: Signed, canonical: str) -> str:
    key = signing_key(secret, signed)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = "\n".join([ALGORITHM, signed.amz_date, signed.scope, digest])
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, signed: Signed, canonical: str) -> None:
    """The signature is that of `canonical`, compared in constant time; else
    SignatureDoesNotMatch."""
    expected = signature(secret, signed, canonical).encode()
    if not hmac.compare_digest(expected, signed.signature.encode()):
        raise SignatureError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
