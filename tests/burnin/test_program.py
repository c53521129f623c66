"""The burn-in program (`python -m aicc.burnin`) run for real on this machine: every figure
sane and in its unit, the network measured against the server's real sink (loops/burn_in.py),
skipped with its reason where the peer is out of reach, and the GPU check skipped here (no
DCGM) with that reason. Its result is what the server's parser accepts, and a hostile one is
refused."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aicc.burnin import FIGURES
from aicc.config import BurnInFloor
from aicc.loops.burn_in import Sink
from aicc.services.center.burn_in import parse


def _run(tmp_path: Path, *extra: str) -> dict[str, object]:
    out = tmp_path / "out" / "burnin.json"
    argv = [sys.executable, "-m", "aicc.burnin", "--out", str(out), "--seconds", "0.1"]
    argv += ["--scratch", str(tmp_path), "--disk-mib", "4", "--network-mib", "4", *extra]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.glob("aicc-burnin.bin")), "the disk check leaves its file behind"
    result: dict[str, object] = json.loads(out.read_text())
    return result


def test_the_figures_are_measured_in_their_units_and_network_reaches_the_sink(
    tmp_path: Path,
) -> None:
    sink = Sink("127.0.0.1", 5 << 20)
    try:
        result = _run(tmp_path, "--peer", f"127.0.0.1:{sink.port}")
    finally:
        sink.close()
    figures = result["figures"]
    assert isinstance(figures, dict)
    assert set(figures) == set(FIGURES)  # every figure, the network's included
    for name, figure in figures.items():
        assert figure["unit"] == FIGURES[name]
        assert figure["value"] > 0, name
    assert 0.1 < figures["cpu_gflops"]["value"] < 1e6  # GFLOP/s of a machine, not FLOP/s
    assert 0.05 < figures["memory_gbs"]["value"] < 1e4  # GB/s
    assert figures["network_mbs"]["value"] > 1  # MB/s over loopback
    gpu = result["gpu"]
    assert isinstance(gpu, dict)
    if gpu["state"] == "skipped":  # this machine: no dcgmi, no nvidia-smi
        assert gpu["detail"] == "skipped: no DCGM on this node"
    parsed = parse(json.dumps(result).encode())
    assert parsed["figures"]["cpu_gflops"]["unit"] == "GFLOP/s"


def test_a_peer_out_of_reach_is_skipped_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _run(tmp_path, "--peer", f"127.0.0.1:{port}")
    skipped = result["skipped"]
    assert isinstance(skipped, dict)
    assert "out of reach" in skipped["network_mbs"]
    assert "network_mbs" not in result["figures"]  # type: ignore[operator]
    no_peer = _run(tmp_path)
    assert "no peer" in no_peer["skipped"]["network"]  # type: ignore[index]


def test_the_settings_floors_name_the_figures_the_program_measures() -> None:
    assert set(BurnInFloor.model_fields) - {"kind"} == set(FIGURES)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"[]", "version"),
        (b'{"version": 1, "figures": {"rm -rf": {"value": 1}}}', "not one the burn-in"),
        (b'{"version": 1, "figures": {"cpu_gflops": {"value": "fast"}}}', "must be a number"),
        (b'{"version": 1, "figures": {"cpu_gflops": {"value": -1}}}', "at least 0"),
        (b'{"version": 1, "figures": {"cpu_gflops": {"value": 1e300}}}', "beyond any machine"),
        (b'{"version": 1, "figures": []}', "must be objects"),
    ],
)
def test_a_hostile_result_is_refused_saying_what_is_wrong(raw: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse(raw)
