"""`client.s3_keys`: access keys to the S3 endpoint (`/s3`, docs/interop.md) as
`aicc.services.tenancy.views.S3Key`; a secret is shown once, when the key is made."""

from __future__ import annotations

import builtins

from aicc.sdk.transport import Resource, api_path
from aicc.services.tenancy.views import S3Key


class S3Keys(Resource):
    def list(self) -> builtins.list[S3Key]:
        return self._items(S3Key, api_path("s3-keys"))

    def create(self, name: str, *, writable: bool = False) -> S3Key:
        """The answer carries `access_key_id` and `secret`: the only time the server shows the
        secret. Give both to boto3, s3fs or DuckDB with the endpoint `SERVER/s3`. A `writable`
        key also writes new data set versions (`DATASET/new/PATH`, then `DATASET/new/_COMMIT`)."""
        body = {"name": name, "writable": writable}
        return self._one(S3Key, "POST", api_path("s3-keys"), json=body)

    def delete(self, key_id: str) -> None:
        self._t.call("DELETE", api_path("s3-keys", key_id))
