"""The S3 endpoint (`/s3`, docs/interop.md) with the real clients a tenant uses: boto3, s3fs with
pandas, and DuckDB's httpfs, against one server over a real socket for the whole module.

Tenant A pushes a data set with the SDK; what its tools read through S3 is byte for byte what
`client.datasets.pull` writes; a range of a few MiB file reads only the chunks it touches (the
server's `/metrics` counts the chunks it read); listings page and roll up as S3's do; tenant B's
key finds neither A's bucket nor A's keys; a bad signature and a write are refused in S3's XML.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from aicc import Client
from aicc.core import datasets as core
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

BIG = 5 * 1024 * 1024 + 12345  # a few MiB: about 20 chunks


@dataclass
class Site:
    url: str
    admin: httpx.Client
    a: Client  # tenant A's SDK client (a member)
    a_key: tuple[str, str]
    b_key: tuple[str, str]
    a_bucket: str
    files: dict[str, bytes]
    pulled: Path


def s3_client(url: str, key: tuple[str, str], **config: object) -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=url + "/s3",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
    )


def chunks_read(site: Site) -> float:
    text = site.admin.get("/metrics").text
    found = re.search(r"^aicc_s3_chunks_read_total (\S+)$", text, re.MULTILINE)
    assert found, "the server's /metrics counts the chunks S3 reads read"
    return float(found.group(1))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("s3")
    with over_http(tmp / "home", loops=False) as (url, token, _state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        a, b = make_tenant(admin, "s3-alpha"), make_tenant(admin, "s3-beta")
        rng = random.Random(60)
        files = {
            "train.csv": b"id,city,stars\n"
            + b"".join(b"%d,x%d,%d\n" % (i, i % 7, i % 5) for i in range(2000)),
            "big/blob.bin": rng.randbytes(BIG),
            "nested/deep/notes.txt": "中文 and spaces & <xml>\n".encode(),
        }
        source = tmp / "corpus"
        for path, data in files.items():
            (source / path).parent.mkdir(parents=True, exist_ok=True)
            (source / path).write_bytes(data)
        sdk = Client(server=url, token=a.token)
        sdk.datasets.push("corpus", source)
        (source / "train.csv").write_bytes(files["train.csv"] + b"2000,x0,4\n")
        sdk.datasets.push("corpus", source)  # version 2
        sdk.datasets.push("other", source)
        pulled = tmp / "pulled"
        sdk.datasets.pull("corpus@1", pulled)
        keys = []
        for tenant in (a, b):
            made = admin.post(
                "/api/v1/s3-keys", json={"name": "tools"}, headers=tenant.headers
            ).json()
            keys.append((made["access_key_id"], made["secret"]))
        project = admin.get(f"/api/v1/projects/{a.project_id}").json()["name"]
        try:
            yield Site(url, admin, sdk, keys[0], keys[1], project, files, pulled)
        finally:
            sdk.close()
            admin.close()


def test_boto3_reads_a_version_byte_for_byte_as_the_sdk_pulls_it(site: Site) -> None:
    s3 = s3_client(site.url, site.a_key)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [site.a_bucket]
    for path in site.files:
        got = s3.get_object(Bucket=site.a_bucket, Key=f"corpus/1/{path}")["Body"].read()
        assert got == (site.pulled / path).read_bytes() == site.files[path]
    head = s3.head_object(Bucket=site.a_bucket, Key="corpus/1/big/blob.bin")
    assert head["ContentLength"] == BIG
    assert (
        head["ETag"].strip('"')
        == core.FileEntry("x", BIG, tuple(core.cut(site.files["big/blob.bin"]))).digest
    )
    assert head["LastModified"].year >= 2026
    # `latest` is the newest version
    latest = s3.get_object(Bucket=site.a_bucket, Key="corpus/latest/train.csv")["Body"].read()
    assert latest.endswith(b"2000,x0,4\n")
    # the bucket by the project's id too
    project_id = site.a.projects.list()[0].id
    assert s3.head_object(Bucket=project_id, Key="corpus/2/train.csv")["ContentLength"] == len(
        latest
    )


def test_a_range_reads_exactly_its_bytes_and_only_the_chunks_it_touches(site: Site) -> None:
    s3 = s3_client(site.url, site.a_key)
    blob = site.files["big/blob.bin"]
    sizes = [c.size for c in core.cut(blob)]
    first, last = 3 * 1024 * 1024 + 17, 3 * 1024 * 1024 + 17 + 100_000
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    touched = sum(1 for s, n in zip(starts, sizes, strict=True) if s <= last and s + n > first)
    before = chunks_read(site)
    answer = s3.get_object(
        Bucket=site.a_bucket, Key="corpus/1/big/blob.bin", Range=f"bytes={first}-{last}"
    )
    assert answer["Body"].read() == blob[first : last + 1]
    assert answer["ContentRange"] == f"bytes {first}-{last}/{BIG}"
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert chunks_read(site) - before == touched < len(sizes) / 4
    # the last 10 bytes; a range past the end is clamped; one starting past it is refused
    tail = s3.get_object(Bucket=site.a_bucket, Key="corpus/1/big/blob.bin", Range="bytes=-10")
    assert tail["Body"].read() == blob[-10:]
    clamped = s3.get_object(
        Bucket=site.a_bucket, Key="corpus/1/big/blob.bin", Range=f"bytes={BIG - 5}-{10**30}"
    )
    assert clamped["Body"].read() == blob[-5:]
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=site.a_bucket, Key="corpus/1/big/blob.bin", Range=f"bytes={BIG}-")
    assert refused.value.response["Error"]["Code"] == "InvalidRange"


def test_listing_with_prefix_delimiter_and_pages(site: Site) -> None:
    s3 = s3_client(site.url, site.a_key)
    b = site.a_bucket
    top = s3.list_objects_v2(Bucket=b, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["corpus/", "other/"]
    assert "Contents" not in top
    versions = s3.list_objects_v2(Bucket=b, Prefix="corpus/", Delimiter="/")
    assert [p["Prefix"] for p in versions["CommonPrefixes"]] == ["corpus/1/", "corpus/2/"]
    one = s3.list_objects_v2(Bucket=b, Prefix="corpus/1/", Delimiter="/")
    assert [o["Key"] for o in one["Contents"]] == ["corpus/1/train.csv"]
    assert [p["Prefix"] for p in one["CommonPrefixes"]] == ["corpus/1/big/", "corpus/1/nested/"]
    sizes = {
        o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=b, Prefix="corpus/1/")["Contents"]
    }
    assert sizes == {f"corpus/1/{p}": len(d) for p, d in site.files.items()}
    # every key of the bucket, two at a time: in S3's order, each once
    keys, token, pages = [], None, 0
    while True:
        args = {"Bucket": b, "MaxKeys": 2, **({"ContinuationToken": token} if token else {})}
        page = s3.list_objects_v2(**args)
        keys += [o["Key"] for o in page.get("Contents", [])]
        pages += 1
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert keys == sorted(keys) and len(keys) == 9 and pages == 5
    assert keys[:3] == [
        "corpus/1/big/blob.bin",
        "corpus/1/nested/deep/notes.txt",
        "corpus/1/train.csv",
    ]
    paginated = s3.get_paginator("list_objects_v2").paginate(
        Bucket=b, Delimiter="/", PaginationConfig={"PageSize": 1}
    )
    assert [p["Prefix"] for page in paginated for p in page.get("CommonPrefixes", [])] == [
        "corpus/",
        "other/",
    ]
    after = s3.list_objects_v2(Bucket=b, StartAfter="corpus/2/train.csv")
    assert after["Contents"][0]["Key"] == "other/1/big/blob.bin"
    latest = s3.list_objects_v2(Bucket=b, Prefix="corpus/latest/")
    assert {o["Key"] for o in latest["Contents"]} == {f"corpus/latest/{p}" for p in site.files}
    v1 = s3.list_objects(Bucket=b, Prefix="other/", MaxKeys=2)
    assert v1["IsTruncated"] and len(v1["Contents"]) == 2


def test_s3fs_and_pandas_read_what_the_sdk_pulled(site: Site) -> None:
    pd = pytest.importorskip("pandas")
    s3fs = pytest.importorskip("s3fs")
    fs = s3fs.S3FileSystem(
        key=site.a_key[0],
        secret=site.a_key[1],
        endpoint_url=site.url + "/s3",
        client_kwargs={"region_name": "us-east-1"},
        config_kwargs={"s3": {"addressing_style": "path"}},
    )
    options = {
        "key": site.a_key[0],
        "secret": site.a_key[1],
        "endpoint_url": site.url + "/s3",
        "client_kwargs": {"region_name": "us-east-1"},
    }
    frame = pd.read_csv(f"s3://{site.a_bucket}/corpus/1/train.csv", storage_options=options)
    assert frame.equals(pd.read_csv(site.pulled / "train.csv"))
    with fs.open(f"{site.a_bucket}/corpus/1/big/blob.bin", "rb", block_size=256 * 1024) as f:
        f.seek(BIG - 1000)
        assert f.read() == (site.pulled / "big/blob.bin").read_bytes()[-1000:]
    assert sorted(fs.ls(f"{site.a_bucket}/corpus/1/")) == [
        f"{site.a_bucket}/corpus/1/big",
        f"{site.a_bucket}/corpus/1/nested",
        f"{site.a_bucket}/corpus/1/train.csv",
    ]
    assert (
        fs.cat(f"{site.a_bucket}/corpus/1/nested/deep/notes.txt")
        == site.files["nested/deep/notes.txt"]
    )


def _duckdb_python() -> str | None:
    """An interpreter whose DuckDB loads httpfs without the internet: this one when a
    `duckdb-extension-httpfs` of its DuckDB's version is installed, else `AICC_TEST_DUCKDB_PYTHON`.
    PyPI's httpfs packages lag DuckDB's releases (1.5.5 when DuckDB is 2.0)."""
    probe = textwrap.dedent(
        """
        import duckdb, duckdb_extension_httpfs, os
        here = os.path.dirname(duckdb_extension_httpfs.__file__)
        p = os.path.join(here, "extensions", "v" + duckdb.__version__, "httpfs.duckdb_extension")
        assert os.path.exists(p), p
        """
    )
    for python in (sys.executable, os.environ.get("AICC_TEST_DUCKDB_PYTHON")):
        if python and subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
            return python
    return None


def test_duckdb_httpfs_queries_a_version(site: Site) -> None:
    python = _duckdb_python()
    if python is None:
        pytest.skip(
            "no DuckDB with an offline httpfs extension of its version (pip install "
            "duckdb-extension-httpfs matching duckdb, or set AICC_TEST_DUCKDB_PYTHON)"
        )
    host = site.url.removeprefix("http://")
    script = textwrap.dedent(
        f"""
        import duckdb, duckdb_extension_httpfs, os
        here = os.path.dirname(duckdb_extension_httpfs.__file__)
        p = os.path.join(here, "extensions", "v" + duckdb.__version__, "httpfs.duckdb_extension")
        c = duckdb.connect()
        c.execute(f"LOAD '{{p}}'")
        c.execute("CREATE SECRET (TYPE s3, KEY_ID '{site.a_key[0]}', SECRET '{site.a_key[1]}', "
                  "ENDPOINT '{host}/s3', URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')")
        print(c.sql("SELECT count(*), sum(stars) FROM read_csv('s3://{site.a_bucket}/corpus/1/train.csv')").fetchone())
        print(c.sql("SELECT count(*) FROM glob('s3://{site.a_bucket}/corpus/1/**')").fetchone()[0])
        """
    )
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = (2000, sum(i % 5 for i in range(2000)))
    assert done.stdout.splitlines() == [str(expected), "3"]


def test_another_tenant_finds_neither_the_bucket_nor_its_keys(site: Site) -> None:
    s3 = s3_client(site.url, site.b_key)
    project_id = site.a.projects.list()[0].id
    assert project_id not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # A's project by its id (a name resolves in the caller's own organization only)
    with pytest.raises(ClientError) as listing:
        s3.list_objects_v2(Bucket=project_id)
    assert listing.value.response["Error"]["Code"] == "NoSuchBucket"
    for key in ("corpus/1/train.csv", "corpus/latest/big/blob.bin", "nothing"):
        with pytest.raises(ClientError) as getting:
            s3.get_object(Bucket=project_id, Key=key)
        assert getting.value.response["Error"]["Code"] == "NoSuchBucket"
        with pytest.raises(ClientError) as heading:
            s3.head_object(Bucket=project_id, Key=key)
        assert heading.value.response["Error"]["Code"] == "404"
    # `default` is B's own project: A's data set's name there is no key, as a name never pushed
    (own,) = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert own == site.a_bucket == "default"
    assert s3.list_objects_v2(Bucket=own)["KeyCount"] == 0
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=own, Key="corpus/1/train.csv")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_a_bad_signature_and_a_write_are_refused_in_s3s_xml(site: Site) -> None:
    wrong = s3_client(site.url, (site.a_key[0], site.a_key[1][:-1] + "x"))
    with pytest.raises(ClientError) as bad:
        wrong.get_object(Bucket=site.a_bucket, Key="corpus/1/train.csv")
    assert bad.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    unknown = s3_client(site.url, ("AKAICCNOSUCHKEY00000", "x" * 40))
    with pytest.raises(ClientError) as nobody:
        unknown.list_buckets()
    assert nobody.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    s3 = s3_client(site.url, site.a_key)
    for write in (
        lambda: s3.put_object(Bucket=site.a_bucket, Key="corpus/3/x.csv", Body=b"1"),
        lambda: s3.delete_object(Bucket=site.a_bucket, Key="corpus/1/train.csv"),
        lambda: s3.create_multipart_upload(Bucket=site.a_bucket, Key="corpus/3/x.csv"),
    ):
        with pytest.raises(ClientError) as refused:
            write()
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as acl:
        s3.get_object_acl(Bucket=site.a_bucket, Key="corpus/1/train.csv")
    assert acl.value.response["Error"]["Code"] == "NotImplemented"
    answer = httpx.get(f"{site.url}/s3/{site.a_bucket}/corpus/1/train.csv")
    assert answer.status_code == 403 and "<Code>AccessDenied</Code>" in answer.text
    assert s3.get_object(Bucket=site.a_bucket, Key="corpus/2/train.csv")["Body"].read()  # unchanged


def test_presigned_urls_and_keys_made_and_deleted(site: Site) -> None:
    s3 = s3_client(site.url, site.a_key, signature_version="s3v4")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": site.a_bucket, "Key": "corpus/1/train.csv"}, ExpiresIn=60
    )
    assert httpx.get(url).content == site.files["train.csv"]
    mine = site.a.s3_keys.list()
    assert [k.access_key_id for k in mine] == [site.a_key[0]] and mine[0].secret is None
    assert mine[0].last_used_at is not None
    extra = site.a.s3_keys.create("short-lived")
    assert extra.secret and extra.access_key_id.startswith("AKAICC")
    reader = s3_client(site.url, (extra.access_key_id, extra.secret))
    assert reader.list_buckets()["Buckets"]
    site.a.s3_keys.delete(extra.id)
    with pytest.raises(ClientError) as gone:
        reader.list_buckets()
    assert gone.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    actions = [
        e["action"] for e in site.admin.get("/api/v1/audit", params={"limit": 50}).json()["items"]
    ]
    assert {"s3_key.create", "s3_key.delete"} <= set(actions)
