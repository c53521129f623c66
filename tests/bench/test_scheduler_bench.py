"""`aicc bench scheduler` runs the issue's mix through the real scheduler and reports it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from aicc.cli.main import app


def test_bench_scheduler_reports_throughput_and_memory_for_the_mix() -> None:
    args = ["bench", "scheduler", "--nodes", "50", "--pending", "600", "--projects", "5", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["bound"] + report["waiting"] == 600
    assert report["bound"] > 0 and report["decisions_per_s"] > 0
    assert 0 < report["allocated_gpu_pct"] <= 100
    assert report["peak_rss_mib"] > 0
