"""aws-chunked bodies (`aicc/s3/chunked.py`) against AWS's own worked example ("Signature
Calculations for the Authorization Header: Transferring Payload in Multiple Chunks", Amazon S3
API reference): 66,560 bytes of `a` in chunks of 65,536, each chunk's signature chained from the
seed. The signatures below are the ones AWS publishes; a body changed in any chunk, cut short or
framed wrongly is refused with S3's code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aicc.s3 import chunked, sigv4

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
SIGNED = sigv4.Signed(
    "AKIAIOSFODNN7EXAMPLE",
    "20130524T000000Z",
    "20130524/us-east-1/s3/aws4_request",
    ("content-encoding", "content-length", "host", "x-amz-content-sha256", "x-amz-date"),
    SEED,
    sigv4.STREAMING_SIGNED,
    False,
)


def example(first: bytes = b"a" * 65536, second: bytes = b"a" * 1024) -> bytes:
    return (
        b"10000;chunk-signature=" + SIGNATURES[0].encode() + b"\r\n" + first + b"\r\n"
        b"400;chunk-signature=" + SIGNATURES[1].encode() + b"\r\n" + second + b"\r\n"
        b"0;chunk-signature=" + SIGNATURES[2].encode() + b"\r\n\r\n"
    )


async def _pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(body), size):
        yield body[at : at + size]


def decode(body: bytes, *, signed: bool = True, size: int = 1000) -> tuple[bytes, dict[str, str]]:
    chain = chunked.Chain(sigv4.signing_key(SECRET, SIGNED), SIGNED, SEED) if signed else None
    trailers: dict[str, str] = {}

    async def run() -> bytes:
        got = bytearray()
        async for piece in chunked.decode(_pieces(body, size), chain=chain, trailers=trailers):
            got += piece
        return bytes(got)

    return asyncio.run(run()), trailers


@pytest.mark.parametrize("size", [1, 7, 1000, 70_000])
def test_awss_example_decodes_whatever_pieces_the_body_arrives_in(size: int) -> None:
    assert decode(example(), size=size) == (b"a" * 66560, {})


def test_a_changed_chunk_or_signature_is_refused() -> None:
    for body in (
        example(second=b"b" + b"a" * 1023),
        example(first=b"a" * 65535 + b"b"),
        example().replace(SIGNATURES[2].encode(), SIGNATURES[1].encode()),
        example().replace(b";chunk-signature=" + SIGNATURES[0].encode(), b""),
    ):
        with pytest.raises(chunked.Malformed) as refused:
            decode(body)
        assert refused.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    "body",
    [
        example()[:-40],  # cut inside the last chunk's line
        example()[:30_000],  # cut inside a chunk
        b"zz\r\nab\r\n0\r\n\r\n",  # a size that is no hex
        b"2\r\nabc\r\n0\r\n\r\n",  # a chunk longer than its size
        b"1" * (chunked.MAX_LINE + 10),  # a line that never ends
    ],
)
def test_broken_framing_is_refused(body: bytes) -> None:
    with pytest.raises(chunked.Malformed) as refused:
        decode(body, signed=False)
    assert refused.value.code == "IncompleteBody"


def test_an_unsigned_stream_hands_its_trailer_on() -> None:
    body = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"  # what boto3 sends
    assert decode(body, signed=False) == (b"hello world", {"x-amz-checksum-crc32": "DUoRhQ=="})
    many = b"0\r\n" + b"".join(b"x-a%d:1\r\n" % i for i in range(20)) + b"\r\n"
    with pytest.raises(chunked.Malformed) as refused:
        decode(many, signed=False)
    assert refused.value.code == "MalformedTrailerError"
