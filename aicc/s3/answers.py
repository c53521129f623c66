"""S3's XML: the error document and the answers of ListBuckets and ListObjects (V1 and V2).

Clients parse these by element name, in S3's namespace. A key may hold characters XML 1.0 cannot
carry; clients ask `encoding-type=url` for that (boto3 always does), which percent-encodes every
key and prefix in the answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import quote
from xml.sax.saxutils import escape

from fastapi.responses import Response

from aicc.services.data.s3writes import Part
from aicc.services.data.views import Bucket, ObjectPage

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
XML = "application/xml"

# S3's error codes and their statuses (the S3 API reference, "Error responses").
STATUS = {
    "AccessDenied": 403,
    "SignatureDoesNotMatch": 403,
    "InvalidAccessKeyId": 403,
    "RequestTimeTooSkewed": 403,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "InvalidRequest": 400,
    "InvalidArgument": 400,
    "InvalidURI": 400,
    "XAmzContentSHA256Mismatch": 400,
    "BadDigest": 400,
    "InvalidDigest": 400,
    "IncompleteBody": 400,
    "EntityTooLarge": 400,
    "EntityTooSmall": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "MalformedXML": 400,
    "MalformedTrailerError": 400,
    "NoSuchUpload": 404,
    "MissingContentLength": 411,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "MethodNotAllowed": 405,
    "OperationAborted": 409,
    "InvalidRange": 416,
    "InternalError": 500,
    "NotImplemented": 501,
    "ServiceUnavailable": 503,
}


def _text(value: str) -> str:
    """XML text: markup escaped, and what XML 1.0 cannot hold written as a character reference
    (an `encoding-type=url` answer never has any)."""
    out = escape(value)
    return "".join(c if c >= " " or c in "\t\n" else f"&#x{ord(c):x};" for c in out)


def _el(name: str, value: object) -> str:
    return f"<{name}>{_text(str(value))}</{name}>"


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def http_date(at: datetime) -> str:
    return at.strftime("%a, %d %b %Y %H:%M:%S GMT")


def request_id() -> str:
    return uuid.uuid4().hex[:16].upper()


def document(
    root: str, body: str, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NAMESPACE}">{body}</{root}>'
    return Response(text.encode(), status_code=status, media_type=XML, headers=headers)


def error(
    code: str,
    message: str,
    *,
    resource: str = "",
    head: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    """S3's error document; a HEAD's answer has the status and headers alone."""
    status = STATUS[code]
    rid = request_id()
    extra = {"x-amz-request-id": rid, **(headers or {})}
    if head:
        return Response(status_code=status, headers=extra)
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{_el("Code", code)}'
        f"{_el('Message', message)}{_el('Resource', resource)}{_el('RequestId', rid)}</Error>"
    )
    return Response(body.encode(), status_code=status, media_type=XML, headers=extra)


def buckets(owner_id: str, owner: str, found: Iterable[Bucket]) -> Response:
    items = "".join(
        f"<Bucket>{_el('Name', b.name)}{_el('CreationDate', _when(b.created_at))}</Bucket>"
        for b in found
    )
    body = (
        f"<Owner>{_el('ID', owner_id)}{_el('DisplayName', owner)}</Owner><Buckets>{items}</Buckets>"
    )
    return document("ListAllMyBucketsResult", body)


def listing(
    bucket: str,
    page: ObjectPage,
    *,
    prefix: str,
    delimiter: str,
    max_keys: int,
    url: bool,
    v2: bool,
    marker: str = "",
    token: str = "",
    next_token: str = "",
    start_after: str = "",
) -> Response:
    """ListObjectsV2's answer (`v2`), else ListObjects's (V1, with markers)."""

    def key(text: str) -> str:
        return quote(text, safe="/") if url else text

    parts = [_el("Name", bucket), _el("Prefix", key(prefix))]
    if v2:
        parts.append(_el("KeyCount", len(page.objects) + len(page.prefixes)))
        if token:
            parts.append(_el("ContinuationToken", token))
        if next_token:
            parts.append(_el("NextContinuationToken", next_token))
        if start_after:
            parts.append(_el("StartAfter", key(start_after)))
    else:
        parts.append(_el("Marker", key(marker)))
        if page.truncated and page.last:
            parts.append(_el("NextMarker", key(page.last)))
    parts.append(_el("MaxKeys", max_keys))
    if delimiter:
        parts.append(_el("Delimiter", key(delimiter)))
    parts.append(_el("IsTruncated", "true" if page.truncated else "false"))
    if url:
        parts.append(_el("EncodingType", "url"))
    for o in page.objects:
        parts.append(
            f"<Contents>{_el('Key', key(o.key))}{_el('LastModified', _when(o.last_modified))}"
            f"{_el('ETag', etag(o.etag))}{_el('Size', o.size)}"
            f"{_el('StorageClass', 'STANDARD')}</Contents>"
        )
    for p in page.prefixes:
        parts.append(f"<CommonPrefixes>{_el('Prefix', key(p))}</CommonPrefixes>")
    return document("ListBucketResult", "".join(parts))


def initiated(bucket: str, key: str, upload_id: str) -> Response:
    """CreateMultipartUpload's answer."""
    body = f"{_el('Bucket', bucket)}{_el('Key', key)}{_el('UploadId', upload_id)}"
    return document("InitiateMultipartUploadResult", body)


def completed(bucket: str, key: str, digest: str) -> Response:
    """CompleteMultipartUpload's answer."""
    where = f"/{quote(bucket)}/{quote(key)}"
    body = f"{_el('Location', where)}{_el('Bucket', bucket)}{_el('Key', key)}"
    return document("CompleteMultipartUploadResult", body + _el("ETag", etag(digest)))


def parts(bucket: str, key: str, upload_id: str, found: Iterable[Part]) -> Response:
    """ListParts's answer: every part, in one page."""
    items = "".join(
        f"<Part>{_el('PartNumber', p.number)}{_el('LastModified', _when(p.last_modified))}"
        f"{_el('ETag', etag(p.etag))}{_el('Size', p.size)}</Part>"
        for p in found
    )
    head = f"{_el('Bucket', bucket)}{_el('Key', key)}{_el('UploadId', upload_id)}"
    return document(
        "ListPartsResult", head + f"{_el('MaxParts', 10000)}{_el('IsTruncated', 'false')}{items}"
    )


def location() -> Response:
    return document("LocationConstraint", "")


def etag(digest: str) -> str:
    return f'"{digest}"'
