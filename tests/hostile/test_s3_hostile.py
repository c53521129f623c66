"""A hostile tenant's probes of the S3 endpoint (`/s3`): keys that try to climb out of a version
(`..`, encoded slashes, backslashes, NULs), ranges that are huge or malformed, signatures replayed
after their time or bent to another request, and another tenant's key id. Each answer is S3's own
error (never a 500), and none carries a byte of what was not asked for.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import boto3
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from aicc.s3 import sigv4
from aicc.services.common import utcnow
from aicc.testing.datasets import push
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

DATA = b"id,secret\n1,alpha-only\n" * 1000


@dataclass
class Target:
    url: str
    key: tuple[str, str]
    other: tuple[str, str]  # tenant B's key
    writer: tuple[str, str]  # A's key that writes (`--write`)
    other_project: str  # B's project, by id


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with over_http(tmp_path_factory.mktemp("s3h") / "home", loops=False) as (url, token, _):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        a, b = make_tenant(admin, "hostile-a"), make_tenant(admin, "hostile-b")
        push(admin, "corpus", {"t.csv": DATA, "sub/x.txt": b"x"}, a.headers)
        keys = []
        for headers, writable in ((a.headers, False), (b.headers, False), (a.headers, True)):
            made = admin.post(
                "/api/v1/s3-keys", json={"name": "k", "writable": writable}, headers=headers
            )
            keys.append(made.json())
        key, other, writer = ((k["access_key_id"], k["secret"]) for k in keys)
        try:
            yield Target(url, key, other, writer, b.project_id)
        finally:
            admin.close()


def sign(
    key: tuple[str, str], host: str, method: str, raw_path: str, raw_query: str = "", **extra: str
) -> dict[str, str]:
    """SigV4 headers for exactly this path and query, as a client that sends them unchanged
    would sign them (botocore and httpx tidy `..` and re-encode a path before sending it)."""
    at = utcnow().strftime("%Y%m%dT%H%M%SZ")
    names = ("host", "x-amz-content-sha256", "x-amz-date")
    claim = sigv4.Signed(
        key[0], at, f"{at[:8]}/us-east-1/s3/aws4_request", names, "", sigv4.UNSIGNED, False
    )
    sent = {"host": [host], "x-amz-content-sha256": [sigv4.UNSIGNED], "x-amz-date": [at]}
    canonical = sigv4.canonical_request(method, raw_path, raw_query, sent, claim)
    signature = sigv4.signature(key[1], claim, canonical)
    return {
        "x-amz-date": at,
        "x-amz-content-sha256": sigv4.UNSIGNED,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={key[0]}/{claim.scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}",
        **extra,
    }


@dataclass
class Answer:
    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def signed(
    target: Target,
    method: str,
    raw_path: str,
    headers: dict[str, str] | None = None,
    *,
    key: tuple[str, str] | None = None,
    body: bytes | None = None,
) -> Answer:
    """The request line exactly as given (http.client changes nothing in it), signed."""
    host = target.url.removeprefix("http://")
    sent = sign(key or target.key, host, method, raw_path, **(headers or {}))
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.request(method, raw_path, body=body, headers=sent)
        got = connection.getresponse()
        return Answer(got.status, {k.lower(): v for k, v in got.getheaders()}, got.read())
    finally:
        connection.close()


def code_of(answer: httpx.Response | Answer) -> str:
    assert answer.headers["content-type"] == "application/xml", answer.text
    return answer.text.split("<Code>")[1].split("</Code>")[0]


@pytest.mark.parametrize(
    "key",
    [
        "corpus/1/../1/t.csv",
        "corpus/1/sub/../t.csv",
        "corpus/../corpus/1/t.csv",
        "corpus/1/./t.csv",
        "corpus/1//t.csv",
        "corpus/1/sub%2F..%2F..%2Ft.csv",
        "corpus%2F1%2F..%2Ft.csv",
        "corpus/1/%2e%2e/t.csv",
        "corpus/1/sub%5Cx.txt",
        "corpus/1/t.csv%00",
        "corpus/01x/t.csv",
        "corpus/99999999999999999999/t.csv",
        "CORPUS/1/t.csv",
        "..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_keys_that_climb_are_no_such_key(target: Target, key: str) -> None:
    answer = signed(target, "GET", f"/s3/default/{key}")
    assert answer.status_code == 404 and code_of(answer) == "NoSuchKey"
    assert b"alpha-only" not in answer.content


def test_an_encoded_slash_is_a_slash_of_the_key(target: Target) -> None:
    answer = signed(target, "GET", "/s3/default/corpus%2F1%2Fsub%2Fx.txt")
    assert answer.status_code == 200 and answer.content == b"x"


@pytest.mark.parametrize(
    ("header", "status", "body"),
    [
        (f"bytes=0-{10**400}", 206, DATA),  # past the end: clamped, parsed without a 500
        (f"bytes={10**400}-", 416, None),
        ("bytes=-" + "9" * 100, 206, DATA),  # a suffix longer than the file: all of it
        ("bytes=0-0,5-9", 200, DATA),  # several ranges: S3 answers the whole object
        ("bytes=9-3", 200, DATA),  # backwards: ignored, as S3 does
        ("items=0-3", 200, DATA),
        ("bytes=-0", 416, None),
        ("bytes=" + "1" * 5000 + "-", 200, DATA),  # longer than any range of ours: ignored
    ],
)
def test_ranges_huge_and_malformed(
    target: Target, header: str, status: int, body: bytes | None
) -> None:
    answer = signed(target, "GET", "/s3/default/corpus/1/t.csv", {"Range": header})
    assert answer.status_code == status, answer.text[:300]
    if body is not None:
        assert answer.content == body
    else:
        assert code_of(answer) == "InvalidRange"
        assert answer.headers["content-range"] == f"bytes */{len(DATA)}"


def test_a_presigned_url_is_refused_once_expired_and_when_bent(target: Target) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=target.url + "/s3",
        aws_access_key_id=target.key[0],
        aws_secret_access_key=target.key[1],
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "default", "Key": "corpus/1/t.csv"}, ExpiresIn=1
    )
    assert httpx.get(url).content == DATA
    other = url.replace("corpus/1/t.csv", "corpus/1/sub/x.txt")  # the signature of another key
    assert code_of(httpx.get(other)) == "SignatureDoesNotMatch"
    longer = url.replace("X-Amz-Expires=1", "X-Amz-Expires=604800")
    assert code_of(httpx.get(longer)) == "SignatureDoesNotMatch"
    time.sleep(2.1)
    replayed = httpx.get(url)
    assert replayed.status_code == 403 and code_of(replayed) == "AccessDenied"
    assert "expired" in replayed.text and b"alpha-only" not in replayed.content


def test_a_signature_bent_to_another_request_or_time_is_refused(target: Target) -> None:
    url = target.url + "/s3/default/corpus/1/t.csv"
    request = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": sigv4.UNSIGNED})
    S3SigV4Auth(Credentials(*target.key), "s3", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    assert httpx.get(url, headers=headers).content == DATA
    bent = httpx.get(target.url + "/s3/default/corpus/1/sub/x.txt", headers=headers)
    assert code_of(bent) == "SignatureDoesNotMatch"
    queried = httpx.get(url + "?list-type=2", headers=headers)
    assert code_of(queried) == "SignatureDoesNotMatch"
    # B's key id with A's signature; an unknown key id
    theirs = {
        **headers,
        "Authorization": headers["Authorization"].replace(target.key[0], target.other[0]),
    }
    assert code_of(httpx.get(url, headers=theirs)) == "SignatureDoesNotMatch"
    nobody = {
        **headers,
        "Authorization": headers["Authorization"].replace(target.key[0], "AKAICCAAAAAAAAAAAAAA"),
    }
    assert code_of(httpx.get(url, headers=nobody)) == "InvalidAccessKeyId"
    # signed correctly, 20 minutes ago: a replay outside the window
    old = (utcnow() - timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    claim = sigv4.Signed(
        target.key[0],
        old,
        f"{old[:8]}/us-east-1/s3/aws4_request",
        ("host", "x-amz-content-sha256", "x-amz-date"),
        "",
        sigv4.UNSIGNED,
        presigned=False,
    )
    host = target.url.removeprefix("http://")
    sent = {"host": [host], "x-amz-content-sha256": [sigv4.UNSIGNED], "x-amz-date": [old]}
    canonical = sigv4.canonical_request("GET", "/s3/default/corpus/1/t.csv", "", sent, claim)
    signature = sigv4.signature(target.key[1], claim, canonical)
    stale = {
        "x-amz-date": old,
        "x-amz-content-sha256": sigv4.UNSIGNED,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={target.key[0]}/{claim.scope}, "
        f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}",
    }
    answer = httpx.get(url, headers=stale)
    assert answer.status_code == 403 and code_of(answer) == "RequestTimeTooSkewed"


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=x",
        "AWS4-HMAC-SHA256 Credential=AKAICC/a/b/c/d, SignedHeaders=host, Signature=0",
        "AWS AKAICCAAAAAAAAAAAAAA:c2lnbmF0dXJl",
        "AWS4-HMAC-SHA256 Credential=" + "A" * 10000 + ", SignedHeaders=host, Signature=0",
        "Bearer aicc_not_here",
    ],
)
def test_malformed_authorization_is_a_clear_4xx(target: Target, authorization: str) -> None:
    answer = httpx.get(
        target.url + "/s3/default/corpus/1/t.csv",
        headers={"Authorization": authorization, "x-amz-content-sha256": sigv4.UNSIGNED},
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert code_of(answer) and b"alpha-only" not in answer.content


def test_another_tenants_key_lists_nothing_of_a(target: Target) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=target.url + "/s3",
        aws_access_key_id=target.other[0],
        aws_secret_access_key=target.other[1],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    assert s3.list_objects_v2(Bucket="default")["KeyCount"] == 0  # B's own default project
    for prefix in ("corpus/", "corpus/latest/", quote("../")):
        assert s3.list_objects_v2(Bucket="default", Prefix=prefix)["KeyCount"] == 0


# --- writes (a writable key): keys that climb, another project, oversize bodies ---------------


@pytest.mark.parametrize(
    "key",
    [
        "corpus/new/../x.csv",
        "corpus/new/%2e%2e/x.csv",
        "corpus/new/sub%2F..%2F..%2Fx.csv",
        "corpus/new//etc/passwd",
        "corpus/new/%2Fetc%2Fpasswd",
        "corpus/new/./x.csv",
        "corpus/new/a%5Cb.csv",
        "corpus/new/x.csv%00",
        "%2e%2e/new/x.csv",
        "..%2F..%2Fnew%2Fx.csv",
        "corpus/1/../new/x.csv",
    ],
)
def test_a_write_to_a_key_that_climbs_is_refused(target: Target, key: str) -> None:
    answer = signed(target, "PUT", f"/s3/default/{key}", key=target.writer, body=b"climb")
    assert answer.status_code in (400, 403), answer.text
    assert code_of(answer) in ("InvalidArgument", "AccessDenied")


def test_nothing_a_refused_write_sent_is_staged(target: Target) -> None:
    for key in ("corpus/new/../x.csv", "corpus/new/%2e%2e/y.csv"):
        signed(target, "PUT", f"/s3/default/{key}", key=target.writer, body=b"climb")
    commit = signed(target, "PUT", "/s3/default/corpus/new/_COMMIT", key=target.writer, body=b"")
    assert commit.status_code == 400 and "nothing is staged" in commit.text


def test_a_write_naming_another_project_finds_no_bucket(target: Target) -> None:
    for path in (
        f"/s3/{target.other_project}/corpus/new/x.csv",
        f"/s3/{target.other_project}/corpus/new/_COMMIT",
    ):
        answer = signed(target, "PUT", path, key=target.writer, body=b"")
        assert answer.status_code == 404 and code_of(answer) == "NoSuchBucket"
    made = signed(
        target, "POST", f"/s3/{target.other_project}/corpus/new/x?uploads=", key=target.writer
    )
    assert made.status_code in (403, 404)  # the signature covers `uploads=`; never a 500


@pytest.mark.parametrize(
    ("path", "length", "code"),
    [
        ("/s3/default/corpus/new/huge.bin", str(6 * 1024**3), "EntityTooLarge"),
        ("/s3/default/corpus/new/huge.bin", "9" * 40, "MissingContentLength"),
        ("/s3/default/corpus/new/huge.bin", "-1", "MissingContentLength"),
    ],
)
def test_an_oversize_body_is_refused_before_it_is_read(
    target: Target, path: str, length: str, code: str
) -> None:
    """Content-Length alone is sent: the answer comes without the body, and closes."""
    host = target.url.removeprefix("http://")
    sent = sign(target.writer, host, "PUT", path, **{"Content-Length": length})
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.putrequest("PUT", path, skip_accept_encoding=True)
        for name, value in sent.items():
            connection.putheader(name, value)
        connection.endheaders()
        got = connection.getresponse()
        answer = Answer(got.status, {k.lower(): v for k, v in got.getheaders()}, got.read())
    finally:
        connection.close()
    assert answer.status_code in (400, 411, 413), answer.text
    if answer.headers.get("content-type") == "application/xml":
        assert code_of(answer) == code


def _streamed(target: Target, path: str, body: bytes, decoded: int) -> Answer:
    """A PUT of an aws-chunked body (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`, as boto3 sends over
    HTTPS), signed with A's writable key, the body sent exactly as given."""
    host = target.url.removeprefix("http://")
    at = utcnow().strftime("%Y%m%dT%H%M%SZ")
    names = ("host", "x-amz-content-sha256", "x-amz-date", "x-amz-decoded-content-length")
    payload = sigv4.STREAMING_TRAILER
    claim = sigv4.Signed(
        target.writer[0], at, f"{at[:8]}/us-east-1/s3/aws4_request", names, "", payload, False
    )
    sent = {
        "host": [host],
        "x-amz-content-sha256": [payload],
        "x-amz-date": [at],
        "x-amz-decoded-content-length": [str(decoded)],
    }
    canonical = sigv4.canonical_request("PUT", path, "", sent, claim)
    headers = {
        "x-amz-date": at,
        "x-amz-content-sha256": payload,
        "x-amz-decoded-content-length": str(decoded),
        "Content-Encoding": "aws-chunked",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={target.writer[0]}/{claim.scope}, "
        f"SignedHeaders={';'.join(names)}, "
        f"Signature={sigv4.signature(target.writer[1], claim, canonical)}",
    }
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.request("PUT", path, body=body, headers=headers)
        got = connection.getresponse()
        return Answer(got.status, {k.lower(): v for k, v in got.getheaders()}, got.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("body", "decoded", "code"),
    [
        (b"ffffffffffffffff\r\n" + b"x" * 100, 10, "IncompleteBody"),  # a chunk past the length
        (b"5\r\nhello\r\n0\r\n\r\n", 3, "IncompleteBody"),  # more than declared
        (b"5\r\nhel", 5, "IncompleteBody"),  # cut short
        (b"5;" + b"x" * 10_000 + b"\r\nhello\r\n0\r\n\r\n", 5, "IncompleteBody"),  # a long line
        (b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", 5, "BadDigest"),
        (b"5\r\nhello\r\n0\r\n" + b"x-a: 1\r\n" * 20 + b"\r\n", 5, "MalformedTrailerError"),
        (b"0\r\n\r\n", str(10**20), "MissingContentLength"),
    ],
)
def test_a_hostile_aws_chunked_body_is_refused(
    target: Target, body: bytes, decoded: int | str, code: str
) -> None:
    answer = _streamed(target, "/s3/default/chunked/new/x.bin", body, int(decoded))
    assert 400 <= answer.status_code < 500, answer.text
    assert code_of(answer) == code


@pytest.mark.parametrize("subresource", ["tagging", "acl", "retention", "legal-hold"])
def test_a_put_of_an_objects_subresource_stages_nothing(target: Target, subresource: str) -> None:
    """PutObjectTagging and its kind carry XML, never a file: refused, nothing staged."""
    host = target.url.removeprefix("http://")
    path = "/s3/default/subs/new/x.csv"
    sent = sign(target.writer, host, "PUT", path, f"{subresource}=")
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.request("PUT", f"{path}?{subresource}=", body=b"<Tagging/>", headers=sent)
        got = connection.getresponse()
        answer = Answer(got.status, {k.lower(): v for k, v in got.getheaders()}, got.read())
    finally:
        connection.close()
    assert answer.status_code == 403 and code_of(answer) == "AccessDenied"
    commit = signed(target, "PUT", "/s3/default/subs/new/_COMMIT", key=target.writer, body=b"")
    assert commit.status_code in (400, 404)  # nothing staged (the set itself may not exist)
