"""The S3 endpoint's routes, under `/s3` (path-style addressing: `/s3/BUCKET/KEY`), which the API
mounts (`api/app.py`). They speak S3's protocol, not AICC's: SigV4-signed requests, XML answers,
S3's error codes; so they stay out of /openapi.json, as the gateway's `/v1` does.

Reads: ListBuckets, HeadBucket, GetBucketLocation, ListObjects (V1 and V2), HeadObject and
GetObject (one byte range), of versions and of the caller's own staged files. Writes, for a
writable key only (`writes.py`): PutObject, DeleteObject and the multipart upload of a new
version's files under `DATASET/new/`, committed by `_COMMIT`. Every
other request is refused once its signature is checked: another write with `AccessDenied`,
another GET (ACLs, tagging, versions) with `NotImplemented`. A bucket or key the caller may
not read answers exactly as one that does not exist (`NoSuchBucket`, `NoSuchKey`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import mimetypes
import re
from collections.abc import Iterator
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from aicc.s3 import answers, sigv4, writes
from aicc.s3.sigv4 import SignatureError
from aicc.s3.state import Endpoint
from aicc.services.common import utcnow
from aicc.services.data import objects
from aicc.services.data.views import Bucket, ObjectPage, StoredObject
from aicc.services.tenancy import s3keys
from aicc.store.chunkstore import ChunkCorrupt, ChunkStoreError

MOUNT = "/s3"
router = APIRouter(prefix=MOUNT, tags=["s3"], include_in_schema=False)

READS = ("GET", "HEAD")
MAX_HEADER = 1000  # a longer Range is none of ours (and int() refuses 4300 digits)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# GETs of a bucket's or object's other resources (a query name without a value chooses them)
_SUBRESOURCES = frozenset(
    [
        "accelerate",
        "acl",
        "analytics",
        "attributes",
        "cors",
        "encryption",
        "intelligent-tiering",
        "inventory",
        "legal-hold",
        "lifecycle",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "ownershipControls",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "restore",
        "retention",
        "select",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    ]
)


def _state(request: Request) -> Endpoint:
    state: Endpoint = request.app.state.s3
    return state


def _bucket_and_key(raw_path: str) -> tuple[str, str]:
    """`/s3/BUCKET/KEY` as sent, percent-decoded (a `%2F` is a '/' of the key, as on S3)."""
    rest = raw_path[len(MOUNT) :].lstrip("/")
    bucket, _, key = rest.partition("/")
    return unquote(bucket, errors="strict"), unquote(key, errors="strict")


def _operation(method: str, bucket: str, key: str, query: dict[str, str]) -> str:
    if not bucket:
        return "ListBuckets" if method == "GET" else "HeadRoot"
    if not key:
        if method == "HEAD":
            return "HeadBucket"
        if "location" in query:
            return "GetBucketLocation"
        if _SUBRESOURCES & query.keys():
            return "BucketSubresource"
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    if _SUBRESOURCES & query.keys():
        return "ObjectSubresource"
    return "HeadObject" if method == "HEAD" else "GetObject"


async def _holder(
    request: Request, state: Endpoint, raw_path: str, *, streamed: bool
) -> tuple[s3keys.Holder, sigv4.Signed]:
    """The key that signed this request, its signature checked, and what it signed (the
    payload's hash among it); else SignatureError. A `streamed` body (a PUT's) is not read here: its
    hash is checked as it is streamed (`writes.py`)."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    query = parse_qsl(request.url.query, keep_blank_values=True)
    signed = sigv4.parse(request.method, headers, query)
    if signed is None:
        raise SignatureError("AccessDenied", "Anonymous access is forbidden: sign the request")
    holder = await asyncio.to_thread(_lookup, state, signed.access_key_id)
    if holder is None:
        raise SignatureError(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    if signed.payload not in (sigv4.UNSIGNED, sigv4.EMPTY_SHA256) and not streamed:
        body = await request.body()  # bounded by the API's request limit (api/limits.py)
        if hashlib.sha256(body).hexdigest() != signed.payload:
            raise SignatureError(
                "XAmzContentSHA256Mismatch",
                "x-amz-content-sha256 is not the SHA-256 of the body",
            )
    multi: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        multi.setdefault(name.lower(), []).append(value)
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    canonical = sigv4.canonical_request(request.method, raw_path, raw_query, multi, signed)
    sigv4.verify(holder.secret, signed, canonical)
    sigv4.check_time(signed, utcnow())
    if holder.stale:
        await asyncio.to_thread(_touch, state, holder.key_id)
    return holder, signed


def _lookup(state: Endpoint, access_key_id: str) -> s3keys.Holder | None:
    with state.db.reader() as session:
        return s3keys.holder(session, state.sealer, access_key_id)


def _touch(state: Endpoint, key_id: str) -> None:
    with state.db.session() as session:
        s3keys.touch(session, key_id)


@router.api_route("", methods=["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"])
@router.api_route("/{rest:path}", methods=["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"])
async def s3_request(request: Request) -> Response:
    """Every S3 request: authenticated, then answered by its operation."""
    state = _state(request)
    head = request.method == "HEAD"
    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    raw_path = raw_path.split("?", 1)[0]
    query = dict(parse_qsl(request.url.query, keep_blank_values=True))
    try:
        bucket, key = _bucket_and_key(raw_path)
    except UnicodeDecodeError:
        return answers.error("InvalidURI", "the path is not percent-encoded UTF-8", head=head)
    # a write, unless it names another subresource (PutObjectTagging, PutObjectAcl: refused)
    others = _SUBRESOURCES - {"uploadId", "uploads"}
    write = writes.is_write(request.method, key, query) and not others & query.keys()
    operation = _operation(request.method, bucket, key, query)
    resource = f"/{bucket}/{key}" if key else f"/{bucket}"
    try:
        holder, signed = await _holder(request, state, raw_path, streamed=request.method == "PUT")
    except SignatureError as err:
        answer = answers.error(err.code, err.message, resource=resource, head=head)
    else:
        if write:
            operation = _write_operation(request.method, key, query)
            answer = await writes.answer(request, state, holder, bucket, key, query, signed)
        else:
            answer = await _answer(request, state, holder, operation, bucket, key, query)
    if request.method == "PUT" and answer.status_code >= 400:
        # the body may be unread: the connection cannot carry another request (as S3 does)
        answer.headers["Connection"] = "close"
    state.stats.requests.labels(operation, str(answer.status_code)).inc()
    return answer


def _write_operation(method: str, key: str, query: dict[str, str]) -> str:
    """The write's name, as the request counter labels it."""
    if method == "PUT":
        return "UploadPart" if "uploadId" in query else "PutObject"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    return "ListParts"


async def _answer(
    request: Request,
    state: Endpoint,
    holder: s3keys.Holder,
    operation: str,
    bucket: str,
    key: str,
    query: dict[str, str],
) -> Response:
    head = request.method == "HEAD"
    resource = f"/{bucket}/{key}" if key else f"/{bucket}"
    if request.method not in READS:
        return answers.error(
            "AccessDenied",
            "Objects are written only under DATASET/new/ (PutObject, multipart uploads) with "
            "a writable key; versions are immutable",
            resource=resource,
        )
    if operation in ("BucketSubresource", "ObjectSubresource", "HeadRoot"):
        return answers.error(
            "NotImplemented",
            "AICC's S3 endpoint serves ListBuckets, ListObjects(V2), HeadObject and GetObject",
            resource=resource,
            head=head,
        )
    try:
        if operation == "ListBuckets":
            found = await asyncio.to_thread(_buckets, state, holder)
            return answers.buckets(holder.who.user_id, holder.who.name, found)
        if operation in ("HeadBucket", "GetBucketLocation"):
            await asyncio.to_thread(_bucket, state, holder, bucket)
            return answers.location() if operation == "GetBucketLocation" else Response()
        if operation in ("ListObjects", "ListObjectsV2"):
            return await _list(state, holder, bucket, query, v2=operation == "ListObjectsV2")
        return await _object(request, state, holder, bucket, key)
    except objects.NoSuchBucket:
        return answers.error(
            "NoSuchBucket", "The specified bucket does not exist", resource=resource, head=head
        )
    except objects.NoSuchKey:
        return answers.error(
            "NoSuchKey", "The specified key does not exist.", resource=resource, head=head
        )
    except _Invalid as err:
        return answers.error("InvalidArgument", str(err), resource=resource, head=head)
    except ChunkStoreError:
        return answers.error(
            "ServiceUnavailable",
            "data set storage is unavailable; try again later",
            resource=resource,
            head=head,
            headers={"Retry-After": "30"},
        )
    except ChunkCorrupt:
        return answers.error(
            "InternalError",
            "stored data is damaged and is not served; the server's log names the chunk",
            resource=resource,
            head=head,
        )


class _Invalid(ValueError):
    """A query parameter S3 would refuse with InvalidArgument."""


def _buckets(state: Endpoint, holder: s3keys.Holder) -> list[Bucket]:
    with state.db.reader() as session:
        return objects.buckets(session, holder.who)


def _bucket(state: Endpoint, holder: s3keys.Holder, name: str) -> None:
    with state.db.reader() as session:
        objects.bucket(session, holder.who, name)


def _token(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode()).decode()


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise _Invalid("The continuation token provided is incorrect") from None


async def _list(
    state: Endpoint, holder: s3keys.Holder, bucket: str, query: dict[str, str], *, v2: bool
) -> Response:
    raw_max = query.get("max-keys", str(objects.MAX_KEYS))
    if not raw_max.isdigit() or len(raw_max) > 9:
        raise _Invalid("max-keys: a whole number from 0")
    max_keys = min(int(raw_max), objects.MAX_KEYS)
    encoding = query.get("encoding-type", "")
    if encoding not in ("", "url"):
        raise _Invalid("Invalid Encoding Method specified in Request")
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    token = query.get("continuation-token", "") if v2 else ""
    start_after = query.get("start-after", "") if v2 else ""
    marker = "" if v2 else query.get("marker", "")
    if max(len(prefix), len(delimiter), len(token), len(start_after), len(marker)) > 4096:
        raise _Invalid("prefix, delimiter, tokens and markers: at most 4096 characters")
    after = _untoken(token) if token else (start_after if v2 else marker)

    def page() -> ObjectPage:
        with state.db.reader() as session:
            return objects.listing(
                session,
                holder.who,
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                after=after,
                max_keys=max_keys,
            )

    found = await asyncio.to_thread(page)
    next_token = _token(found.last) if v2 and found.truncated and found.last else ""
    return answers.listing(
        bucket,
        found,
        prefix=prefix,
        delimiter=delimiter,
        max_keys=max_keys,
        url=encoding == "url",
        v2=v2,
        marker=marker,
        token=token,
        next_token=next_token,
        start_after=start_after,
    )


def _range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """The inclusive byte range asked for; None for the whole object (no Range, or one S3
    ignores: several ranges, another unit, bad syntax); "unsatisfiable" for a range past the
    end."""
    if header is None or len(header) > MAX_HEADER:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            return "unsatisfiable"
        return max(size - count, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(int(last), size - 1) if last else size - 1


async def _object(
    request: Request, state: Endpoint, holder: s3keys.Holder, bucket: str, key: str
) -> Response:
    head = request.method == "HEAD"

    def find() -> StoredObject:
        with state.db.reader() as session:
            return objects.find(session, holder.who, bucket, key)

    found = await asyncio.to_thread(find)
    headers = {
        "ETag": answers.etag(found.etag),
        "Last-Modified": answers.http_date(found.last_modified),
        "Accept-Ranges": "bytes",
        "x-amz-request-id": answers.request_id(),
    }
    media = mimetypes.guess_type(key)[0] or "application/octet-stream"
    wanted = _range(request.headers.get("range"), found.size)
    if wanted == "unsatisfiable":
        return answers.error(
            "InvalidRange",
            "The requested range is not satisfiable",
            resource=f"/{bucket}/{key}",
            head=head,
            headers={"Content-Range": f"bytes */{found.size}"},
        )
    status = 200
    first, last = 0, found.size - 1
    if isinstance(wanted, tuple):
        first, last = wanted
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{found.size}"
    length = max(last - first + 1, 0)
    headers["Content-Length"] = str(length)
    if head or length == 0:
        return Response(status_code=status, headers=headers, media_type=media)

    def opened() -> Iterator[bytes]:
        """The stream, its first piece read now: a store that is away or a damaged chunk is
        still an error answer, not a cut-short body."""
        with state.db.reader() as session:
            stream = objects.read(
                session, state.chunks, found, first, last, counted=state.stats.chunk
            )
        piece = next(stream, b"")
        return itertools.chain([piece], stream)

    stream = await asyncio.to_thread(opened)
    state.stats.bytes_sent.inc(length)
    return StreamingResponse(stream, status_code=status, headers=headers, media_type=media)
