"""The S3 endpoint (`/s3`, docs/interop.md): a tenant's own tools (boto3, s3fs and pandas,
DuckDB's httpfs, the AWS CLI) read data set versions through Amazon S3's protocol, signed with an
access key from `aicc s3-key create`: a project is a bucket, `DATASET/VERSION/PATH` a key. A key
made `--write` also stages files under `DATASET/new/` and commits them (`writes.py`). The API
mounts `routes.router`; what it reads comes from `services/data/objects.py`, what it writes goes
through `services/data/s3writes.py`."""
