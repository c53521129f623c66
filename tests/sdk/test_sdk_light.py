"""The SDK parses answers into the services' read models (`aicc/services/<ctx>/views.py`), yet a
client, or a job that calls `aicc.log_metrics`, loads none of the server: no database layer, no
web framework, no store. The views modules import only pydantic, the standard library and core."""

from __future__ import annotations

import subprocess
import sys

SERVER_ONLY = ("sqlalchemy", "fastapi", "alembic", "aicc.store", "aicc.executors", "aicc.api")


def test_importing_the_sdk_loads_no_server_module() -> None:
    probe = (
        "import sys, aicc, aicc.sdk.client; "
        f"print([m for m in {SERVER_ONLY!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
