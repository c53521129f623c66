"""Data set chunks in S3-compatible object storage (AWS S3, MinIO, Ceph RGW, OSS, COS ...), and
`open_chunk_store`, the one place that picks a backend from the settings.

`S3Chunks` asks about many objects at once (concurrent HEADs), reads ranges, and its errors name
the endpoint and the bucket. One object per pack (chunkstore.py) at `PREFIX/chunks/ab/<digest>`,
written by a single PUT, so an object is whole or absent and a second PUT of the same digest writes
the same bytes; a chunk inside a pack is read with a ranged GET. boto3 is imported when a store is
made, not when AICC starts, so `aicc --help` stays fast.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aicc.store.chunkstore import (
    ChunkCorrupt,
    ChunkMissing,
    ChunkStore,
    ChunkStoreError,
    LocalChunks,
    _valid,
    checked,
)

if TYPE_CHECKING:
    from aicc.config import DataSettings, S3Settings

DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


def open_chunk_store(settings: DataSettings, home: Path) -> ChunkStore:
    """The chunk store that `data:` in config.yaml describes (docs/config.md). Here rather than
    in chunkstore.py, which this module builds on."""
    if settings.backend == "s3":
        return S3Chunks.from_settings(settings.s3)
    return LocalChunks((settings.root or home / "data").expanduser() / "chunks")


class _Stopped(Exception):
    """A lookup not made because another one of the same call failed first."""


class S3Chunks:
    """The `ChunkStore` over one bucket; `has` asks about many objects at once (a HEAD each,
    `threads` at a time), since each waits a network round trip."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        threads: int = 16,
        timeout_s: float = 30.0,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.threads = threads
        self._guard = threading.Lock()
        self._writing: dict[str, threading.Event] = {}  # digest -> done, while a PUT is out
        config = Config(
            max_pool_connections=threads,
            connect_timeout=min(timeout_s, 10.0),
            read_timeout=timeout_s,
            retries={"max_attempts": 3, "mode": "standard"},
            # No CRC headers beyond what an operation requires: many S3-compatible services
            # refuse the ones boto3 adds by default since 1.36, and `get` checks every object
            # against its BLAKE3 digest anyway.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )
        self.endpoint = str(self._client.meta.endpoint_url)

    @staticmethod
    def from_settings(settings: S3Settings) -> S3Chunks:
        if not settings.bucket:
            raise ValueError("data.s3.bucket is not set")
        secret = settings.secret_access_key
        return S3Chunks(
            settings.bucket,
            endpoint_url=settings.endpoint_url,
            region=settings.region,
            prefix=settings.prefix,
            access_key_id=settings.access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
        )

    def key(self, digest: str) -> str:
        _valid(digest)
        return f"{self.prefix}chunks/{digest[:2]}/{digest}"

    def has(self, digests: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(digests))
        keys = [self.key(d) for d in wanted]  # a bad digest fails before any request
        if len(keys) <= 1:
            return {d for d, k in zip(wanted, keys, strict=True) if self._exists(k)}
        failed = threading.Event()

        def exists(key: str) -> bool:
            if failed.is_set():  # another key already failed: the call's answer is that error
                raise _Stopped
            try:
                return self._exists(key)
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(min(self.threads, len(keys)), "aicc-s3-head") as pool:
            futures = [pool.submit(exists, k) for k in keys]
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                future.cancel()
        for future in futures:
            error = None if future.cancelled() else future.exception()
            if error is not None and not isinstance(error, _Stopped):
                raise error
        return {d for d, f in zip(wanted, futures, strict=True) if f.result()}

    def put(self, digest: str, data: bytes) -> None:
        """One PUT per object at a time from this process: two uploads racing to store the same
        object send it once (the second finds it there), and a versioned bucket keeps one
        version. moto's server also fails concurrent PUTs of one key (a 500), which S3 allows."""
        key = self.key(digest)
        while True:
            with self._guard:
                other = self._writing.get(digest)
                if other is None:
                    done = self._writing[digest] = threading.Event()
                    break
            other.wait()
            if self._exists(key):
                return  # else that writer failed: try ourselves
        try:
            with self._errors(f"write {key}"):
                self._client.put_object(Bucket=self.bucket, Key=key, Body=data)
        finally:
            with self._guard:
                del self._writing[digest]
            done.set()

    def get(self, digest: str) -> bytes:
        return checked(digest, self._get(digest))

    def read(self, digest: str, offset: int, length: int) -> bytes:
        """A ranged GET: a reader of one chunk in a pack fetches that chunk's bytes only."""
        if length <= 0:  # no range to ask for; the object must still be there
            if not self._exists(self.key(digest)):
                raise ChunkMissing(digest)
            return b""
        data = self._get(digest, Range=f"bytes={offset}-{offset + length - 1}")
        if len(data) != length:
            raise ChunkCorrupt(f"object {digest} is shorter than {offset + length} bytes")
        return data

    def delete(self, digests: Iterable[str]) -> None:
        keys = [self.key(d) for d in dict.fromkeys(digests)]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": k} for k in keys[start : start + DELETE_BATCH]]
            with self._errors("delete chunks"):
                answer = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            failed = answer.get("Errors") or []
            if failed:
                first = failed[0]
                raise ChunkStoreError(
                    f"{self._where()}: could not delete {len(failed)} chunk(s), e.g. "
                    f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )

    def _get(self, digest: str, **extra: str) -> bytes:
        from botocore.exceptions import ClientError

        key = self.key(digest)
        with self._errors(f"read {key}"):
            try:
                answer = self._client.get_object(Bucket=self.bucket, Key=key, **extra)
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code")
                if code in ("NoSuchKey", "404"):
                    raise ChunkMissing(digest) from None
                if code == "InvalidRange":
                    return b""  # the range starts past the object's end
                raise
            with answer["Body"] as body:
                data: bytes = body.read()
        return data

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        with self._errors(f"look up {key}"):
            try:
                self._client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
        return True

    def _where(self) -> str:
        return f"object storage {self.endpoint}, bucket {self.bucket!r}"

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn what boto3 raises into a ChunkStoreError that names the endpoint and bucket and
        says what to check, so an operator can fix the configuration from the message alone."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        try:
            yield
        except (ChunkMissing, ChunkStoreError):
            raise
        except NoCredentialsError:
            raise ChunkStoreError(
                f"{self._where()}: no credentials; set data.s3.access_key_id and "
                "secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from None
        except (ConnectionError, ReadTimeoutError) as err:
            raise ChunkStoreError(
                f"{self._where()} is unreachable ({err}); check data.s3.endpoint_url and that "
                "the service is up"
            ) from None
        except ClientError as err:
            error = err.response.get("Error", {})
            code = str(error.get("Code", "?"))
            hint = {
                "NoSuchBucket": "the bucket does not exist; create it or fix data.s3.bucket",
                "InvalidAccessKeyId": "the access key is not known there",
                "SignatureDoesNotMatch": "the secret access key is wrong",
                "AccessDenied": "these credentials may not do this",
                "403": "these credentials may not do this",
            }.get(code, error.get("Message", ""))
            raise ChunkStoreError(f"{self._where()}: could not {doing}: {code} {hint}") from None
        except BotoCoreError as err:
            raise ChunkStoreError(f"{self._where()}: could not {doing}: {err}") from None
