"""S3's writes, for a writable key (`aicc s3-key create --write`): PutObject, DeleteObject of
a staged file, the multipart upload (Create, UploadPart, Complete, Abort, ListParts) and the
commit, as docs/interop.md states
the rule: `DATASET/new/PATH` stages a file of the next version, the empty `DATASET/new/_COMMIT`
commits it; numbered versions and `latest` are immutable (`AccessDenied`).

A body is streamed: read as it arrives, cut into chunks as `uploads.pieces` cuts a file (a block
at a time), and sent to the upload a batch at a time, each batch its own transaction; the MD5
(the ETag S3 clients check), the SHA-256 the signature covers and a declared CRC32 are computed
on the way and checked at the end, before the file is staged. A 64 MiB part holds a block and a
batch in memory, never the part.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aicc.core import datasets as core
from aicc.core.tenancy import Scope, allows
from aicc.s3 import answers, chunked, sigv4
from aicc.s3.state import Endpoint
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, ServiceError, TooLarge
from aicc.services.data import objects, s3writes, uploads
from aicc.services.tenancy import s3keys
from aicc.store.chunkstore import ChunkStoreError

MAX_PART = 5 * 1024**3  # S3's largest part, and largest single PUT
MAX_COMPLETE = 1024 * 1024  # a CompleteMultipartUpload body: 10,000 parts take ~700 KiB
_PART = re.compile(r"<Part>(.*?)</Part>", re.DOTALL)
_NUMBER = re.compile(r"<PartNumber>\s*(\d{1,5})\s*</PartNumber>")
_ETAG = re.compile(r"<ETag>(.{0,200}?)</ETag>", re.DOTALL)
T = TypeVar("T")
# S3's code for each refusal of the services (its detail is the message), the most specific
# first: NoSuchUpload is a NotFound, the part errors are Invalid.
_CODES: tuple[tuple[type[ServiceError], str], ...] = (
    (s3writes.NoSuchUpload, "NoSuchUpload"),
    (s3writes.BadPartOrder, "InvalidPartOrder"),
    (s3writes.PartTooSmall, "EntityTooSmall"),
    (s3writes.BadPart, "InvalidPart"),
    (Forbidden, "AccessDenied"),
    (NotFound, "NoSuchKey"),
    (TooLarge, "EntityTooLarge"),
    (Invalid, "InvalidArgument"),
    (Conflict, "OperationAborted"),
)


class Refused(Exception):
    """An S3 error answer: its code (a key of `answers.STATUS`) and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Target:
    project_id: str
    dataset: str
    path: str  # inside the version; "_COMMIT" commits


@dataclass
class _Digests:
    md5: hashlib._Hash = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    crc32: int = 0
    size: int = 0


def is_write(method: str, key: str, query: dict[str, str]) -> bool:
    """Whether this request is one of the writes this module answers (else the caller refuses
    it as before: a bucket's PUT or DELETE, a POST of another kind)."""
    if not key:
        return False
    if method == "PUT":
        return True
    if method == "POST":
        return "uploads" in query or "uploadId" in query
    if method == "DELETE":  # DeleteObject of a staged file, or AbortMultipartUpload
        return True
    return method == "GET" and "uploadId" in query


async def answer(
    request: Request,
    state: Endpoint,
    holder: s3keys.Holder,
    bucket: str,
    key: str,
    query: dict[str, str],
    signed: sigv4.Signed,
) -> Response:
    """The write's answer; S3's error document for anything refused. `signed` is what the
    request's signature covers: the x-amz-content-sha256 a streamed body is checked against
    here, or its aws-chunked signing (`chunked.py`)."""
    resource = f"/{bucket}/{key}"
    try:
        if not allows(holder.who.scopes, Scope.DATA):
            raise Refused(
                "AccessDenied",
                "this access key reads only: make one that writes with "
                "`aicc s3-key create --write`",
            )
        if request.headers.get("x-amz-copy-source") is not None:
            raise Refused("NotImplemented", "CopyObject is not served: upload the bytes")
        target = await _run(state, lambda s: _target(s, holder, bucket, key))
        method = request.method
        if method == "PUT" and "uploadId" not in query:
            if target.path == s3writes.COMMIT:
                return await _commit(request, state, holder, target, signed)
            return await _put(request, state, holder, target, signed)
        if method == "POST" and "uploads" in query:
            return await _create(state, holder, target, bucket, key)
        upload_id = query.get("uploadId", "")
        if method == "PUT":
            return await _part(request, state, holder, target, query, upload_id, signed)
        if method == "POST":
            return await _complete(request, state, holder, target, bucket, key, upload_id, signed)
        if method == "DELETE" and "uploadId" not in query:
            await _run(
                state,
                lambda s: s3writes.unstage(
                    s,
                    holder.who,
                    project_id=target.project_id,
                    dataset=target.dataset,
                    path=target.path,
                ),
            )
            return Response(status_code=204, headers={"x-amz-request-id": answers.request_id()})
        if method == "DELETE":
            await _run(state, lambda s: s3writes.abort(s, holder.who, upload_id, target.path))
            return Response(status_code=204, headers={"x-amz-request-id": answers.request_id()})
        found = await _run(state, lambda s: s3writes.parts(s, holder.who, upload_id, target.path))
        return answers.parts(bucket, key, upload_id, found)
    except Refused as err:
        return answers.error(err.code, err.message, resource=resource)
    except objects.NoSuchBucket:
        return answers.error(
            "NoSuchBucket", "The specified bucket does not exist", resource=resource
        )
    except (Forbidden, NotFound, TooLarge, Invalid, Conflict) as err:
        code = next(code for refusal, code in _CODES if isinstance(err, refusal))
        return answers.error(code, err.detail, resource=resource)
    except IntegrityError:  # two requests wrote one staged path or part at once
        return answers.error(
            "OperationAborted",
            "A conflicting operation is in progress against this resource; try again.",
            resource=resource,
        )
    except ChunkStoreError:
        return answers.error(
            "ServiceUnavailable",
            "data set storage is unavailable; try again later",
            resource=resource,
            headers={"Retry-After": "30"},
        )


async def _run(state: Endpoint, work: Callable[[Session], T]) -> T:
    """`work` in a transaction of its own, in a worker thread."""

    def run() -> T:
        with state.db.session() as session:
            return work(session)

    return await asyncio.to_thread(run)


def _target(session: Session, holder: s3keys.Holder, bucket: str, key: str) -> _Target:
    """Where `DATASET/new/PATH` goes; AccessDenied for a version that exists (immutable)."""
    project = objects.bucket(session, holder.who, bucket)
    dataset, _, rest = key.partition("/")
    version, _, path = rest.partition("/")
    if version != s3writes.NEW or not path:
        raise Refused(
            "AccessDenied",
            "data set versions are immutable: write a new one under DATASET/new/PATH, then "
            "PUT the empty object DATASET/new/_COMMIT to commit it",
        )
    try:
        core.check_name(dataset)
    except core.DatasetError as e:
        raise Refused("InvalidArgument", str(e)) from None
    if path != s3writes.COMMIT:
        s3writes.check_path(path)
    return _Target(project.id, dataset, path)


def _length(request: Request, signed: sigv4.Signed) -> int:
    """The payload's declared size: Content-Length, or an aws-chunked body's
    X-Amz-Decoded-Content-Length."""
    name = "x-amz-decoded-content-length" if signed.payload in sigv4.STREAMING else "content-length"
    declared = request.headers.get(name, "")
    if not declared.isdigit() or len(declared) > 15:
        raise Refused("MissingContentLength", f"You must provide the {name.title()} HTTP header.")
    size = int(declared)
    if size > MAX_PART:
        raise Refused(
            "EntityTooLarge",
            f"Your proposed upload exceeds the maximum allowed size ({MAX_PART} bytes); use a "
            "multipart upload",
        )
    return size


def _payload(
    request: Request, holder: s3keys.Holder, signed: sigv4.Signed, trailers: dict[str, str]
) -> AsyncIterator[bytes]:
    """The body's payload as it arrives: aws-chunked decoded (each chunk's signature checked)
    where the signature says so."""
    if signed.payload not in sigv4.STREAMING:
        return request.stream()
    chain = None
    if signed.payload == sigv4.STREAMING_SIGNED:
        key = sigv4.signing_key(holder.secret, signed)
        chain = chunked.Chain(key, signed, signed.signature)
    return chunked.decode(request.stream(), chain=chain, trailers=trailers)


async def _stream(
    request: Request, state: Endpoint, holder: s3keys.Holder, upload_id: str, signed: sigv4.Signed
) -> s3writes.Piece:
    """The body cut into chunks, sent to the upload a batch at a time, and checked: its length
    as declared, its SHA-256 where signed, Content-MD5 and a CRC32 (header or trailer)."""
    expected = _length(request, signed)
    sums = _Digests()
    found: list[tuple[str, int]] = []
    batch: list[tuple[str, bytes]] = []
    pending = 0
    trailers: dict[str, str] = {}

    async def send() -> None:
        nonlocal batch, pending
        if batch:
            sent = batch
            await _run(
                state, lambda s: s3writes.receive(s, holder.who, state.chunks, upload_id, sent)
            )
        batch, pending = [], 0

    body = _payload(request, holder, signed, trailers)
    try:
        async for piece, data in _pieces(body, sums, expected):
            found.append((piece.digest, piece.size))
            batch.append((piece.digest, data))
            pending += piece.size
            if pending >= uploads.INGEST_BATCH:
                await send()
    except chunked.Malformed as err:
        raise Refused(err.code, err.message) from None
    await send()
    _check(request, sums, signed, expected, trailers)
    return s3writes.Piece(found, sums.size, sums.md5.hexdigest())


async def _pieces(
    body: AsyncIterator[bytes], sums: _Digests, expected: int
) -> AsyncIterator[tuple[core.Chunk, bytes]]:
    """`uploads.pieces` over a streamed body: every chunk cut before a block's end is final;
    the last is cut again with the next block. Never more than `expected` bytes are read."""
    carry, block = b"", bytearray()
    async for data in body:
        sums.size += len(data)
        if sums.size > expected:
            raise Refused("IncompleteBody", "the body is longer than its declared length")
        sums.md5.update(data)
        sums.sha256.update(data)
        sums.crc32 = zlib.crc32(data, sums.crc32)
        block += data
        if len(block) >= uploads.READ_BLOCK:
            whole = carry + bytes(block)
            block.clear()
            found = await asyncio.to_thread(core.pieces, whole)
            found.pop()
            for c, piece in found:
                yield c, piece
            carry = whole[sum(c.size for c, _ in found) :]
    whole = carry + bytes(block)
    for c, piece in await asyncio.to_thread(core.pieces, whole) if whole else []:
        yield c, piece


def _check(
    request: Request,
    sums: _Digests,
    signed: sigv4.Signed,
    expected: int,
    trailers: dict[str, str],
) -> None:
    if sums.size != expected:
        raise Refused(
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length HTTP header",
        )
    hashed = signed.payload not in sigv4.STREAMING and signed.payload != sigv4.UNSIGNED
    if hashed and sums.sha256.hexdigest() != signed.payload:
        raise Refused(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    md5 = request.headers.get("content-md5")
    if md5 is not None and _b64(md5) != sums.md5.digest():
        raise Refused("BadDigest", "The Content-MD5 you specified did not match what we received.")
    crc = trailers.get("x-amz-checksum-crc32") or request.headers.get("x-amz-checksum-crc32")
    if crc is not None and _b64(crc) != sums.crc32.to_bytes(4, "big"):
        raise Refused("BadDigest", "The CRC32 you specified did not match the calculated checksum.")


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Refused("InvalidDigest", "a checksum header is not base64") from None


async def _put(
    request: Request, state: Endpoint, holder: s3keys.Holder, target: _Target, signed: sigv4.Signed
) -> Response:
    upload_id = await _open(state, holder, target)
    piece = await _stream(request, state, holder, upload_id, signed)
    etag = await _run(state, lambda s: s3writes.stage(s, holder.who, upload_id, target.path, piece))
    return Response(headers={"ETag": answers.etag(etag), "x-amz-request-id": answers.request_id()})


async def _open(
    state: Endpoint, holder: s3keys.Holder, target: _Target, *, create: bool = True
) -> str:
    return await _run(
        state,
        lambda s: s3writes.open_staging(
            s, holder.who, project_id=target.project_id, dataset=target.dataset, create=create
        ),
    )


async def _commit(
    request: Request,
    state: Endpoint,
    holder: s3keys.Holder,
    target: _Target,
    signed: sigv4.Signed,
) -> Response:
    if _length(request, signed) != 0:
        raise Refused("InvalidArgument", "DATASET/new/_COMMIT commits: write it empty")
    try:  # read to its end (an aws-chunked empty body still has its frame and trailer)
        async for data in _payload(request, holder, signed, {}):
            if data:
                raise Refused("InvalidArgument", "DATASET/new/_COMMIT commits: write it empty")
    except chunked.Malformed as err:
        raise Refused(err.code, err.message) from None
    upload_id = await _open(state, holder, target, create=False)
    done = await _run(state, lambda s: s3writes.commit(s, holder.who, state.chunks, upload_id))
    headers = {
        "ETag": answers.etag(hashlib.md5(b"", usedforsecurity=False).hexdigest()),
        "x-amz-request-id": answers.request_id(),
        "x-aicc-version": str(done.version.number),
    }
    return Response(headers=headers)


async def _create(
    state: Endpoint, holder: s3keys.Holder, target: _Target, bucket: str, key: str
) -> Response:
    if target.path == s3writes.COMMIT:
        raise Refused("InvalidArgument", "DATASET/new/_COMMIT commits: PUT it empty")
    upload_id = await _open(state, holder, target)
    made = await _run(
        state, lambda s: s3writes.create_multipart(s, holder.who, upload_id, target.path)
    )
    return answers.initiated(bucket, key, made)


async def _part(
    request: Request,
    state: Endpoint,
    holder: s3keys.Holder,
    target: _Target,
    query: dict[str, str],
    multipart_id: str,
    signed: sigv4.Signed,
) -> Response:
    raw = query.get("partNumber", "")
    if not raw.isdigit() or not 1 <= int(raw[:6]) <= s3writes.MAX_PARTS:
        raise Refused("InvalidArgument", "Part number must be an integer between 1 and 10000")
    number = int(raw)
    upload_id = await _run(
        state, lambda s: s3writes.multipart(s, holder.who, multipart_id, target.path)
    )
    piece = await _stream(request, state, holder, upload_id, signed)
    etag = await _run(
        state,
        lambda s: s3writes.put_part(s, holder.who, multipart_id, target.path, number, piece),
    )
    return Response(headers={"ETag": answers.etag(etag), "x-amz-request-id": answers.request_id()})


async def _complete(
    request: Request,
    state: Endpoint,
    holder: s3keys.Holder,
    target: _Target,
    bucket: str,
    key: str,
    multipart_id: str,
    signed: sigv4.Signed,
) -> Response:
    body = await request.body()  # under the API's request limit (api/limits.py)
    if len(body) > MAX_COMPLETE:
        raise Refused("MalformedXML", "the part list is larger than 10,000 parts take")
    if signed.payload != sigv4.UNSIGNED and hashlib.sha256(body).hexdigest() != signed.payload:
        raise Refused(
            "XAmzContentSHA256Mismatch", "x-amz-content-sha256 is not the SHA-256 of the body"
        )
    listed = parse_parts(body)
    etag = await _run(
        state, lambda s: s3writes.complete(s, holder.who, multipart_id, target.path, listed)
    )
    return answers.completed(bucket, key, etag)


def parse_parts(body: bytes) -> list[tuple[int, str]]:
    """The (PartNumber, ETag) pairs of a CompleteMultipartUpload document, read by pattern: a
    part's two elements and nothing else (no entities, no DTD), so no XML parser sees tenant
    text; anything else is MalformedXML."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("MalformedXML", "the part list is not UTF-8") from None
    if "<!" in text or "<CompleteMultipartUpload" not in text:
        raise Refused(
            "MalformedXML", "The XML you provided was not well-formed: a CompleteMultipartUpload"
        )
    listed = []
    for part in _PART.findall(text):
        number, etag = _NUMBER.search(part), _ETAG.search(part)
        if number is None or etag is None:
            raise Refused("MalformedXML", "each Part names its PartNumber and its ETag")
        quoted = etag.group(1).strip().replace("&quot;", '"').replace("&#34;", '"')
        listed.append((int(number.group(1)), quoted.strip('"').lower()))
    if not listed:
        raise Refused("MalformedXML", "The XML you provided was not well-formed: no Part")
    return listed
