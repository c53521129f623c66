"""`aicc bench`: one `schedule()` cycle over a large center and a long queue, timed
(`scheduler`), and one SHA-256 per trace and policy over every decision (`decisions`), the
safety net of a refactoring (tests/scheduler/decision_hashes.json)."""
