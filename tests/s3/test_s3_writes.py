"""Writes through the S3 endpoint (`/s3`, docs/interop.md) with the real clients, against one
server over HTTPS for the whole module (boto3 streams a PUT's body aws-chunked there, its CRC32
in a trailer; a client that signs the payload sends its SHA-256): a writable key stages files under
`DATASET/new/` (PutObject, boto3's multipart upload of 20 MiB, pandas' `to_csv` through s3fs),
the empty `DATASET/new/_COMMIT` commits them as the next version, and the SDK pulls byte for
byte what was written. Read-only keys, a viewer, another tenant, existing versions and bad
multipart requests get S3's error documents, never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from aicc import Client
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

MIB = 1024 * 1024
BIG = 20 * MIB + 4321  # a multipart upload of three parts (8 MiB each, the last shorter)


@dataclass
class Site:
    url: str
    admin: httpx.Client
    a: Client  # tenant A's SDK client (a member)
    a_headers: dict[str, str]
    writer: tuple[str, str]  # A's writable key
    reader: tuple[str, str]  # A's read-only key
    other: tuple[str, str]  # tenant B's writable key
    a_project_id: str
    tmp: Path
    cert: str  # the server's self-signed certificate, which clients trust


def s3_client(site: Site, key: tuple[str, str], *, signed_payload: bool = False) -> BaseClient:
    """boto3 at its defaults over HTTPS (aws-chunked bodies); `signed_payload`: the body's
    SHA-256 signed in x-amz-content-sha256 instead, as boto3 sends over HTTP."""
    s3: dict[str, object] = {"addressing_style": "path"}
    checksums: dict[str, str] = {}
    if signed_payload:
        s3["payload_signing_enabled"] = True
        checksums["request_checksum_calculation"] = "when_required"
    return boto3.client(
        "s3",
        endpoint_url=site.url + "/s3",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        region_name="us-east-1",
        verify=site.cert,
        config=Config(s3=s3, retries={"max_attempts": 1}, **checksums),
    )


@contextmanager
def trusting(cert: Path) -> Iterator[None]:
    """SSL_CERT_FILE while a client is made: the SDK's httpx reads it then, into its context."""
    before = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(cert)
    try:
        yield
    finally:
        if before is None:
            del os.environ["SSL_CERT_FILE"]
        else:
            os.environ["SSL_CERT_FILE"] = before


def _key(admin: httpx.Client, headers: dict[str, str], *, writable: bool) -> tuple[str, str]:
    made = admin.post(
        "/api/v1/s3-keys", json={"name": "tools", "writable": writable}, headers=headers
    )
    assert made.status_code == 201, made.text
    return made.json()["access_key_id"], made.json()["secret"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("s3w")
    with over_http(tmp / "home", loops=False, tls=True) as (url, token, _state):
        cert = tmp / "home" / "tls" / "cert.pem"
        admin = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            verify=ssl.create_default_context(cafile=str(cert)),
        )
        a, b = make_tenant(admin, "s3w-alpha"), make_tenant(admin, "s3w-beta")
        with trusting(cert):
            sdk = Client(server=url, token=a.headers["Authorization"].removeprefix("Bearer "))
        source = tmp / "seed"
        source.mkdir()
        (source / "old.csv").write_bytes(b"a,b\n1,2\n")
        sdk.datasets.push("corpus", source)  # version 1, which S3 must not change
        try:
            yield Site(
                url,
                admin,
                sdk,
                a.headers,
                _key(admin, a.headers, writable=True),
                _key(admin, a.headers, writable=False),
                _key(admin, b.headers, writable=True),
                a.project_id,
                tmp,
                str(cert),
            )
        finally:
            sdk.close()
            admin.close()


def code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_put_and_multipart_commit_a_version_the_sdk_pulls_byte_for_byte(site: Site) -> None:
    s3 = s3_client(site, site.writer)
    small = b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(500))
    big = random.Random(60).randbytes(BIG)
    put = s3.put_object(Bucket="default", Key="corpus/new/train.csv", Body=small)
    assert put["ETag"] == f'"{hashlib.md5(small).hexdigest()}"'  # as boto3 and S3 agree
    md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    hashed = s3_client(site, site.writer, signed_payload=True)
    hashed.put_object(Bucket="default", Key="corpus/new/deep/x.txt", Body=b"x", ContentMD5=md5)
    transfer = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    s3.upload_fileobj(io.BytesIO(big), "default", "corpus/new/big/blob.bin", Config=transfer)
    # the writer reads back what it staged (a viewer or another member does not:
    # tests/s3/test_s3_snakemake.py), multipart uploads with their multipart ETag
    head = s3.head_object(Bucket="default", Key="corpus/new/big/blob.bin")
    assert head["ContentLength"] == BIG and head["ETag"].endswith('-3"')
    assert s3.get_object(Bucket="default", Key="corpus/new/train.csv")["Body"].read() == small
    done = s3.put_object(Bucket="default", Key="corpus/new/_COMMIT", Body=b"")
    assert done["ResponseMetadata"]["HTTPHeaders"]["x-aicc-version"] == "2"
    pulled = site.tmp / "pulled"
    site.a.datasets.pull("corpus@2", pulled)
    assert (pulled / "train.csv").read_bytes() == small
    assert (pulled / "big/blob.bin").read_bytes() == big
    assert (pulled / "deep/x.txt").read_bytes() == b"x"
    assert not (pulled / "old.csv").exists()  # the version is exactly what was written
    got = s3.get_object(Bucket="default", Key="corpus/latest/big/blob.bin")["Body"].read()
    assert got == big
    # audited as a push is, and counted in the project's storage
    audit = site.admin.get("/api/v1/audit", params={"limit": 50}).json()["items"]
    assert any(e["action"] == "dataset.push" and e["object_id"].endswith("@2") for e in audit), [
        (e["action"], e["object_id"]) for e in audit
    ]
    stored = site.admin.get("/api/v1/datasets/corpus", headers=site.a_headers).json()
    assert stored["stored_bytes"] >= len(small) + len(big)  # the project's storage counts them
    # a second commit with nothing staged is refused, and version 1 is unchanged
    with pytest.raises(ClientError) as empty:
        s3.put_object(Bucket="default", Key="corpus/new/_COMMIT", Body=b"")
    assert code(empty) == "InvalidArgument"
    assert s3.get_object(Bucket="default", Key="corpus/1/old.csv")["Body"].read() == b"a,b\n1,2\n"


def test_pandas_writes_a_csv_through_s3fs(site: Site) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("s3fs")
    options = {
        "key": site.writer[0],
        "secret": site.writer[1],
        "endpoint_url": site.url + "/s3",
        "client_kwargs": {"region_name": "us-east-1", "verify": site.cert},
        "config_kwargs": {"s3": {"addressing_style": "path"}},
    }
    frame = pd.DataFrame({"city": ["x", "y", "z"], "stars": [1, 5, 3]})
    frame.to_csv("s3://default/frames/new/cities.csv", index=False, storage_options=options)
    s3 = s3_client(site, site.writer)
    s3.put_object(Bucket="default", Key="frames/new/_COMMIT", Body=b"")
    back = pd.read_csv("s3://default/frames/1/cities.csv", storage_options=options)
    assert back.equals(frame)


def _refused(call: object, expected: str) -> ClientError:
    assert callable(call)
    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] == expected, err.value.response
    return err.value


def test_read_only_keys_existing_versions_and_other_tenants_are_refused(site: Site) -> None:
    reader, writer = s3_client(site, site.reader), s3_client(site, site.writer)
    denied = _refused(
        lambda: reader.put_object(Bucket="default", Key="corpus/new/a.csv", Body=b"1"),
        "AccessDenied",
    )
    assert "--write" in denied.response["Error"]["Message"]
    _refused(
        lambda: reader.create_multipart_upload(Bucket="default", Key="corpus/new/a.csv"),
        "AccessDenied",
    )
    for key in ("corpus/1/old.csv", "corpus/latest/x.csv", "corpus/7/x.csv", "corpus/new"):
        err = _refused(
            lambda key=key: writer.put_object(Bucket="default", Key=key, Body=b"1"),
            "AccessDenied",
        )
        assert "immutable" in err.response["Error"]["Message"]
    _refused(lambda: writer.delete_object(Bucket="default", Key="corpus/1/old.csv"), "AccessDenied")
    # B's writable key: A's project by id is no bucket of B's
    theirs = s3_client(site, site.other)
    _refused(
        lambda: theirs.put_object(Bucket=site.a_project_id, Key="corpus/new/x", Body=b"1"),
        "NoSuchBucket",
    )
    _refused(
        lambda: theirs.create_multipart_upload(Bucket=site.a_project_id, Key="corpus/new/x"),
        "NoSuchBucket",
    )
    # B cannot touch A's multipart upload either, by its id
    made = writer.create_multipart_upload(Bucket="default", Key="corpus/new/m.bin")
    _refused(
        lambda: theirs.upload_part(
            Bucket="default",
            Key="corpus/new/m.bin",
            UploadId=made["UploadId"],
            PartNumber=1,
            Body=b"x",
        ),
        "NoSuchUpload",
    )
    writer.abort_multipart_upload(
        Bucket="default", Key="corpus/new/m.bin", UploadId=made["UploadId"]
    )
    # a viewer, and a read-only token, make no writable key
    viewer = make_tenant(site.admin, "s3w-viewer", role="viewer")
    refused = site.admin.post(
        "/api/v1/s3-keys", json={"name": "w", "writable": True}, headers=viewer.headers
    )
    assert refused.status_code == 403 and "read-only key" in refused.json()["detail"]
    token = site.admin.post(
        "/api/v1/tokens", json={"name": "ro", "scopes": ["read"]}, headers=site.a_headers
    ).json()["secret"]
    narrow = site.admin.post(
        "/api/v1/s3-keys",
        json={"name": "w", "writable": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert narrow.status_code == 403


def _parts(s3: BaseClient, key: str) -> tuple[str, list[dict[str, object]]]:
    made = s3.create_multipart_upload(Bucket="default", Key=key)
    upload_id = str(made["UploadId"])
    parts = []
    for number, size in ((1, 5 * MIB), (2, 10)):
        sent = s3.upload_part(
            Bucket="default",
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=bytes([number]) * size,
        )
        parts.append({"PartNumber": number, "ETag": sent["ETag"]})
    return upload_id, parts


def test_bad_multipart_requests_get_s3s_errors(site: Site) -> None:
    s3 = s3_client(site, site.writer)
    key = "bad/new/m.bin"
    _refused(
        lambda: s3.upload_part(
            Bucket="default", Key=key, UploadId="mpu_nosuchupload", PartNumber=1, Body=b"x"
        ),
        "NoSuchUpload",
    )
    upload_id, parts = _parts(s3, key)
    listed = s3.list_parts(Bucket="default", Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MIB), (2, 10)]

    def complete(given: list[dict[str, object]]) -> object:
        return lambda: s3.complete_multipart_upload(
            Bucket="default", Key=key, UploadId=upload_id, MultipartUpload={"Parts": given}
        )

    _refused(complete(list(reversed(parts))), "InvalidPartOrder")
    _refused(complete([parts[0], {"PartNumber": 2, "ETag": '"' + "0" * 32 + '"'}]), "InvalidPart")
    _refused(complete([parts[0], {"PartNumber": 3, "ETag": parts[1]["ETag"]}]), "InvalidPart")
    small = s3.upload_part(
        Bucket="default", Key=key, UploadId=upload_id, PartNumber=1, Body=b"tiny"
    )
    _refused(complete([{"PartNumber": 1, "ETag": small["ETag"]}, parts[1]]), "EntityTooSmall")
    _refused(
        lambda: s3.upload_part(
            Bucket="default", Key=key, UploadId=upload_id, PartNumber=10_001, Body=b"x"
        ),
        "InvalidArgument",
    )
    _refused(
        lambda: s3.put_object(
            Bucket="default",
            Key="bad/new/x",
            Body=b"abc",
            ContentMD5=base64.b64encode(hashlib.md5(b"abd").digest()).decode(),
        ),
        "BadDigest",
    )
    s3.abort_multipart_upload(Bucket="default", Key=key, UploadId=upload_id)
    _refused(lambda: s3.list_parts(Bucket="default", Key=key, UploadId=upload_id), "NoSuchUpload")


def test_deleting_a_data_set_drops_what_s3_staged_in_it(site: Site) -> None:
    s3 = s3_client(site, site.writer)
    s3.put_object(Bucket="default", Key="gone/new/a.csv", Body=b"1\n")
    made = s3.create_multipart_upload(Bucket="default", Key="gone/new/b.bin")
    s3.upload_part(
        Bucket="default", Key="gone/new/b.bin", UploadId=made["UploadId"], PartNumber=1, Body=b"b"
    )
    site.a.datasets.delete("gone")
    _refused(
        lambda: s3.list_parts(Bucket="default", Key="gone/new/b.bin", UploadId=made["UploadId"]),
        "NoSuchUpload",
    )
    _refused(
        lambda: s3.put_object(Bucket="default", Key="gone/new/_COMMIT", Body=b""),
        "NoSuchKey",
    )  # a commit makes no set: nothing staged survived the deletion


def test_parallel_puts_to_a_new_data_set_stage_into_one_version(site: Site) -> None:
    """As `aws s3 cp --recursive` writes: many PUTs at once, the first ones racing to open the
    staging (one per user and data set); every file lands in the one version committed."""
    s3 = s3_client(site, site.writer)
    files = {f"part-{i}.csv": b"%d\n" % i for i in range(8)}

    def put(item: tuple[str, bytes]) -> None:
        s3.put_object(Bucket="default", Key=f"many/new/{item[0]}", Body=item[1])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files.items()))
    s3.put_object(Bucket="default", Key="many/new/_COMMIT", Body=b"")
    listed = s3.list_objects_v2(Bucket="default", Prefix="many/1/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(f"many/1/{p}" for p in files)
