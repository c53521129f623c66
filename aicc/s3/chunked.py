"""S3's `aws-chunked` payload, as clients stream a PUT's body: boto3 over HTTPS sends
`STREAMING-UNSIGNED-PAYLOAD-TRAILER` (chunks, then its checksum in a trailer); other SDKs send
`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, each chunk signed, its signature chained from the request's
own. Decoded as it arrives: a chunk's bytes are handed on in the pieces the request brought, and
a signed chunk's signature checked when it ends (before the file is staged: `writes.py` stages
nothing of a body that fails).

Every framing line is bounded (`MAX_LINE`), and so is the trailer; a chunk's declared size is
bounded by what the body may carry in all (`X-Amz-Decoded-Content-Length`, checked by the
caller as the bytes arrive).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aicc.s3 import sigv4

MAX_LINE = 4096
MAX_TRAILERS = 8
_SIZE = re.compile(rb"^[0-9a-fA-F]{1,16}$")
_EMPTY = hashlib.sha256(b"").hexdigest()


class Malformed(Exception):
    """A body that is not aws-chunked as its headers say, or a chunk whose signature fails;
    `code` is S3's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Chain:
    """The signatures of a signed stream: each chunk's signs the previous one's."""

    key: bytes  # the request's signing key
    signed: sigv4.Signed
    previous: str  # the request's signature, then each chunk's

    def check(self, digest: str, given: bytes) -> None:
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                self.signed.amz_date,
                self.signed.scope,
                self.previous,
                _EMPTY,
                digest,
            ]
        )
        expected = hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), given):
            raise Malformed(
                "SignatureDoesNotMatch",
                "a chunk's signature does not match: the body was changed after signing",
            )
        self.previous = expected


async def decode(
    body: AsyncIterator[bytes], *, chain: Chain | None, trailers: dict[str, str]
) -> AsyncIterator[bytes]:
    """The payload of an aws-chunked `body`; its trailing headers are put in `trailers`."""
    buf = bytearray()
    stream = body.__aiter__()
    ended = False

    async def more() -> bool:
        nonlocal ended
        if ended:
            return False
        try:
            buf.extend(await stream.__anext__())
        except StopAsyncIteration:
            ended = True
        return not ended

    async def line(*, at_end_ok: bool = False) -> bytes | None:
        while True:
            at = buf.find(b"\r\n", 0, MAX_LINE + 2)
            if at >= 0:
                out = bytes(buf[:at])
                del buf[: at + 2]
                return out
            if len(buf) > MAX_LINE:
                raise Malformed("IncompleteBody", "an aws-chunked line is too long")
            if not await more():
                if at_end_ok and not buf:
                    return None
                raise Malformed("IncompleteBody", "the aws-chunked body ends inside a chunk")

    while True:
        head = await line()
        assert head is not None
        size_text, _, extension = head.partition(b";")
        if not _SIZE.match(size_text):
            raise Malformed("IncompleteBody", "an aws-chunked chunk starts with its size in hex")
        size = int(size_text, 16)
        signature = extension.removeprefix(b"chunk-signature=") if extension else b""
        if chain is not None and not signature:
            raise Malformed("SignatureDoesNotMatch", "a signed stream's chunk carries no signature")
        digest = hashlib.sha256()
        left = size
        while left:
            if not buf and not await more():
                raise Malformed("IncompleteBody", "the aws-chunked body ends inside a chunk")
            piece = bytes(buf[:left])
            del buf[: len(piece)]
            left -= len(piece)
            digest.update(piece)
            yield piece
        if chain is not None:
            chain.check(digest.hexdigest(), signature)
        if size == 0:
            break
        if await line() != b"":
            raise Malformed("IncompleteBody", "an aws-chunked chunk is longer than its size")
    for count in range(MAX_TRAILERS + 1):  # trailing headers, then an empty line (or the end)
        text = await line(at_end_ok=True)
        if not text:
            return
        name, colon, value = text.partition(b":")
        if not colon or count == MAX_TRAILERS:
            raise Malformed("MalformedTrailerError", "the aws-chunked trailer is malformed")
        trailers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
