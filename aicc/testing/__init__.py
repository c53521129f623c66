"""Real components for tests and benchmarks, started and stopped by the tests themselves:
PostgreSQL, Ray, Slurm, S3, OIDC, AICC servers in-process or as processes, hostile tenants,
and the check that no process of a test session outlives it (`leftovers`)."""
