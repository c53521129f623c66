"""Persistence: every table (`tables`), the database and its migrations (`db`, `migrations/`),
group commit, the blob store of workdirs, the data sets' chunk store (local disk or S3),
secrets sealed at rest, and a backup's archive and database dump. Only services read and write
it; executors, the scheduler and the portal never import it.
"""
