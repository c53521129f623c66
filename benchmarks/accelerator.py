"""The truth on a real accelerator (issue 42): what only a GPU machine can show, in one run.

    python benchmarks/accelerator.py --out DIR [--deadline-s 470] [--only discovery,burn_in,...]

Phases, each recorded in DIR/accelerator.json as soon as it ends (a run cut short keeps what it
measured), in the order of what matters most:
- `discovery`: every GPU as NVML names it, the catalog entry it matches, memory, driver, CUDA
  and MIG mode, against `nvidia-smi`; then, with the server up, `GET /nodes` and `aicc node list`.
- `burn_in`: a bf16 matrix product and a device-to-device copy against the catalog's peaks.
- `job`: gpu_job/step.py (bf16 blocks that fill the GPU) bare, then as an AICC job with one GPU in
  the sandbox: the throughput ratio, start to first step, and what AICC metered (device-hours,
  busy fraction, kWh) against NVML's own counters sampled over the replica's window.
- `shares`: two jobs of half a GPU each at once (gpu_job/share.py): what each sees and can take.
- `templates`: each template that trains with torch, on its example, on the GPU and on CPU.

With `--simulate` (no GPU) the server gets a simulated H100 and the payloads run small on CPU:
a dry run of the harness, whose figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from aicc.core import accelerator_names
from aicc.executors.environment import thread_env
from aicc.executors.local import mps
from aicc.executors.local.nvml import NoNvml, nvml, text
from aicc.testing import templates
from aicc.testing.jobs import wait_state
from aicc.testing.servers import over_http

PAYLOADS = Path(__file__).parent / "gpu_job"
PHASES = ("discovery", "burn_in", "job", "shares", "templates")


class Record:
    """The run's findings, written after every phase."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"started": time.time()}

    def put(self, phase: str, found: Any) -> None:
        self.data[phase] = found
        self.path.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        print(f"== {phase}: {json.dumps(found, default=str)[:1500]}", flush=True)


def guarded(record: Record, phase: str, run: Callable[[], Any]) -> None:
    """A phase that fails is recorded as failed; the others still run."""
    began = time.monotonic()
    try:
        found = run()
    except Exception as err:  # a finding, not a crash: the next phase must still run
        found = {"error": f"{type(err).__name__}: {err}"[:2000]}
    if isinstance(found, dict):
        found["phase_seconds"] = round(time.monotonic() - began, 1)
    record.put(phase, found)


# --- discovery and burn-in: the device itself -----------------------------------------------


def discovery() -> dict[str, Any]:
    """What NVML says of each GPU, the catalog's match, and what nvidia-smi says beside it."""
    gpus = []
    try:
        with nvml() as pynvml:
            driver = text(pynvml.nvmlSystemGetDriverVersion())
            cuda = int(pynvml.nvmlSystemGetCudaDriverVersion_v2())
            for index in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                name = text(pynvml.nvmlDeviceGetName(handle))
                known = accelerator_names.from_nvml_name(name)
                try:
                    mig = pynvml.nvmlDeviceGetMigMode(handle)[0]
                except pynvml.NVMLError as err:
                    mig = f"unsupported ({err})"
                gpus.append(
                    {
                        "index": index,
                        "nvml_name": name,
                        "catalog": known.name if known else None,
                        "memory_mib": pynvml.nvmlDeviceGetMemoryInfo(handle).total // 2**20,
                        "catalog_memory_gib": known.memory_gib if known else None,
                        "mig_mode": mig,
                        "power_limit_w": pynvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000,
                        "catalog_tdp_w": known.tdp_w if known else None,
                    }
                )
    except NoNvml as err:
        return {"nvml": str(err)}
    smi = shutil.which("nvidia-smi")
    query = "name,memory.total,driver_version,mig.mode.current,power.limit"
    said = (
        subprocess.run(
            [smi, f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        if smi
        else "nvidia-smi not found"
    )
    return {
        "driver": driver,
        "cuda": f"{cuda // 1000}.{cuda % 1000 // 10}",
        "gpus": gpus,
        "nvidia_smi": said,
    }


def median_ms(work: Callable[[], Any], repeats: int) -> float:
    """The median of `repeats` timings with CUDA events, after three untimed runs."""
    import torch

    for _ in range(3):
        work()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        work()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(sorted(times)[len(times) // 2])


def matmul_tflops(n: int = 8192) -> tuple[float, float]:
    """bf16 n×n×n on random data: TFLOP/s, and the error of 256 rows against float64."""
    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    out = torch.full((n, n), float("nan"), device="cuda", dtype=torch.bfloat16)
    ms = median_ms(lambda: torch.matmul(a, b, out=out), 30)
    ref = a[:256].double() @ b.double()
    return 2 * n**3 / (ms / 1000) / 1e12, float((out[:256].double() - ref).norm() / ref.norm())


def copy_gbs(size: int = 4 * 2**30) -> tuple[float, bool]:
    """A device-to-device copy of `size` bytes: GB/s counting bytes read and written."""
    import torch

    src = torch.randint(0, 255, (size,), device="cuda", dtype=torch.uint8)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), 20)
    return 2 * size / (ms / 1000) / 1e9, bool(torch.equal(src[-(2**20) :], dst[-(2**20) :]))


def burn_in() -> dict[str, Any]:
    """The two ceilings, measured as the device's METHOD says, against the catalog's peaks: a
    node whose GPU falls far under them is not fit to sell."""
    import torch

    if not torch.cuda.is_available():
        return {"cuda": False}
    name = torch.cuda.get_device_name()
    known = accelerator_names.from_nvml_name(name)
    tflops, error = matmul_tflops()
    torch.cuda.empty_cache()
    gbs, same = copy_gbs()
    torch.cuda.empty_cache()
    return {
        "device": name,
        "bf16_tflops": round(tflops, 1),
        "bf16_relative_error": error,
        "catalog_fp16_tflops": known.fp16_tflops if known else None,
        "of_catalog_peak": round(tflops / known.fp16_tflops, 3) if known else None,
        "copy_gbs": round(gbs, 1),
        "copy_checked": same,
        "catalog_bandwidth_gbs": known.memory_bandwidth_gbs if known else None,
        "of_catalog_bandwidth": round(gbs / known.memory_bandwidth_gbs, 3) if known else None,
    }


# --- through the server ---------------------------------------------------------------------


def node_list(api: httpx.Client, url: str, token: str) -> dict[str, Any]:
    """`GET /nodes` and `aicc node list` as a user runs it."""
    nodes = api.get("/api/v1/nodes").json()["items"]
    env = {**os.environ, "AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    table = subprocess.run(
        [sys.executable, "-c", "from aicc.cli.main import app; app()", "node", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return {"nodes": nodes, "cli": table.stdout[-4000:] or table.stderr[-2000:]}


class Sampler:
    """NVML's own counters every `every` seconds in a thread: (unix time, busy %, energy mJ)."""

    def __init__(self, every: float = 0.1) -> None:
        self.every = every
        self.rows: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with nvml() as pynvml:
                handle = pynvml.nvmlDeviceGetHandleByIndex(0)
                while not self._stop.is_set():
                    busy = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
                    energy = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
                    self.rows.append((time.time(), float(busy), float(energy)))
                    self._stop.wait(self.every)
        except NoNvml:
            return

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def between(self, start: float, end: float) -> dict[str, float] | None:
        """Mean busy fraction and energy (kWh) over [start, end]."""
        inside = [r for r in self.rows if start <= r[0] <= end]
        if len(inside) < 2:
            return None
        kwh = (inside[-1][2] - inside[0][2]) / 3.6e9  # mJ -> kWh
        return {
            "busy": round(sum(r[1] for r in inside) / len(inside) / 100, 4),
            "kwh": kwh,
            "seconds": round(inside[-1][0] - inside[0][0], 2),
            "mean_w": round(kwh * 3.6e6 / max(inside[-1][0] - inside[0][0], 1e-9), 1),
        }


def result_of(output: str) -> dict[str, Any]:
    """The payload's last `RESULT {...}` line."""
    for line in reversed(output.splitlines()):
        if line.startswith("RESULT "):
            found: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return found
    raise RuntimeError(f"no RESULT line in: {output[-1500:]}")


def stamp(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else 0.0


def submit(api: httpx.Client, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with gpu_job/ as its workdir, submitted as a user's SDK would. Where the
    image finds its CUDA driver through LD_LIBRARY_PATH, the job is given it as a user would."""
    from aicc.sdk.client import Client

    if os.environ.get("LD_LIBRARY_PATH"):
        spec = {**spec, "env": {"LD_LIBRARY_PATH": os.environ["LD_LIBRARY_PATH"]}}
    with Client(str(api.base_url), api.headers["Authorization"].split()[-1]) as client:
        job = client.jobs.submit(spec, workdir=PAYLOADS)
    return {"id": job.id}


def job_phase(api: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    """The same step bare and through AICC; AICC's meter against NVML over the replica's run."""
    payload = [f"--seconds={args.step_seconds}", *args.step_args]
    env = {**os.environ, **thread_env(args.cpu * 1000), "CUDA_VISIBLE_DEVICES": args.visible}
    launched = time.time()
    done = subprocess.run(
        [sys.executable, "step.py", *payload],
        cwd=PAYLOADS,
        env=env,
        capture_output=True,
        text=True,
        timeout=args.step_seconds + 240,
    )
    bare = result_of(done.stdout + done.stderr)
    bare["to_first_step_s"] = bare["first_step"] - launched
    spec = {
        "name": "gpu-step",
        "command": f"python step.py {' '.join(payload)}",
        "resources": {"cpu": args.cpu, "memory": args.memory, "accelerator": {"count": 1}},
        "max_runtime": "10m",
    }
    with Sampler() as sampler:
        submitted = time.time()
        job = submit(api, spec)
        job = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=args.step_seconds + 300)
        time.sleep(1)
    logs = api.get(f"/api/v1/jobs/{job['id']}/logs").text
    if job["state"] != "succeeded":
        err = api.get(f"/api/v1/jobs/{job['id']}/logs", params={"stream": "stderr"}).text
        failed = {"state": job["state"], "message": job["message"]}
        return {"bare": bare, "aicc": failed, "stdout": logs[-2000:], "stderr": err[-3000:]}
    via = result_of(logs)
    via["to_first_step_s"] = via["first_step"] - submitted
    replica = job["replicas"][0]
    start, end = stamp(replica["started_at"]), stamp(replica["ended_at"])
    usage: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while not usage and time.monotonic() < deadline:
        usage = api.get("/api/v1/usage", params={"job": job["id"]}).json()["items"]
        time.sleep(1)
    metered = {
        "accelerator_hours": sum(u["accelerator_hours"] for u in usage),
        "utilization": [u["utilization"] for u in usage],
        "energy_kwh": sum(u["energy_kwh"] for u in usage),
        "records": len(usage),
        "model": sorted({u["accelerator"] or "" for u in usage}),
    }
    return {
        "bare": bare,
        "aicc": via,
        "throughput_ratio": round(via["steps_per_s"] / bare["steps_per_s"], 4),
        "replica_seconds": round(end - start, 2),
        "replica_hours": (end - start) / 3600,
        "metered": metered,
        "nvml_over_replica": sampler.between(start, end),
        "nvml_over_steps": sampler.between(via["first_step"], via["ended"]),
        "devices": replica["devices"],
    }


def shares_phase(api: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    """Two jobs of half a GPU at once: the same device? overlapping? what each could take."""
    spec = {
        "command": f"python share.py --seconds={args.share_seconds}",
        "resources": {"cpu": 1, "memory": args.memory, "accelerator": {"milli": 500}},
        "max_runtime": "5m",
    }
    jobs = [submit(api, {**spec, "name": f"share-{i}"}) for i in range(2)]
    found = []
    for job in jobs:
        job = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=300)
        logs = api.get(f"/api/v1/jobs/{job['id']}/logs").text
        entry: dict[str, Any] = {"state": job["state"], "message": job["message"]}
        entry["devices"] = job["replicas"][0]["devices"]
        try:
            entry.update(result_of(logs))
        except RuntimeError as err:
            stderr = api.get(f"/api/v1/jobs/{job['id']}/logs", params={"stream": "stderr"}).text
            entry["error"] = f"{err}; stderr: {stderr[-1500:]}"
        found.append(entry)
    windows = [(j.get("began", 0.0), j.get("ended", 0.0)) for j in found]
    overlap = max(0.0, min(w[1] for w in windows) - max(w[0] for w in windows))
    return {"jobs": found, "overlap_s": round(overlap, 1), "mps": mps.control()}


def templates_phase(args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    """Each torch template on its example: GPU then CPU, until the deadline."""
    work = Path(tempfile.mkdtemp(prefix="aicc-gpu-templates-"))
    os.environ.update({k: v for k, v in thread_env(args.cpu * 1000).items()})
    rows: dict[str, Any] = {}
    for name in torch_templates(args.templates):
        if time.monotonic() > deadline - 60:
            rows[name] = "not run: the deadline"
            continue
        row: dict[str, Any] = {}
        try:
            example = templates.example(name, work / name / "example")
            metric = templates.manifest(name).metric.name
            for where, devices in (("gpu", args.visible), ("cpu", "")):
                if time.monotonic() > deadline - 30:
                    row[where] = "not run: the deadline"
                    continue
                left = max(30.0, deadline - time.monotonic())
                got = templates.train(
                    name, example, work / name / where, devices=devices, timeout=left
                )
                row[where] = {"seconds": round(got.seconds, 2), metric: got.metrics.get(metric)}
        except Exception as err:  # one template's failure is its row
            row["error"] = f"{type(err).__name__}: {err}"[-1500:]
        rows[name] = row
    shutil.rmtree(work, ignore_errors=True)
    return rows


def torch_templates(only: str) -> list[str]:
    names = [n for n in templates.names() if not only or n in only.split(",")]
    return [n for n in names if "torch" in (templates.ROOT / n / "train.py").read_text()]


def fit(api: httpx.Client, args: argparse.Namespace) -> None:
    """The job's CPUs and memory sized to the node (a microVM's memory may read small)."""
    node = api.get("/api/v1/nodes").json()["items"][0]
    args.cpu = max(1, min(args.cpu, node["cpu_milli"] // 1000 // 2))
    args.memory = f"{max(1024, node['memory_mib'] * 2 // 5)}MiB"  # two shares fit beside the step


@contextmanager
def server(home: Path, args: argparse.Namespace) -> Iterator[tuple[httpx.Client, str, str]]:
    settings: dict[str, Any] = {"sandbox": args.sandbox, "site": {"sample_interval_s": 1.0}}
    if args.simulate:
        settings["simulated_devices"] = [{"model": "H100-SXM", "count": 1}]
    with over_http(home, **settings) as (url, token, _state):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=120) as api:
            yield api, url, token


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--deadline-s", type=float, default=470.0)
    parser.add_argument("--only", default=",".join(PHASES))
    parser.add_argument("--sandbox", default="bwrap", choices=("bwrap", "auto", "off"))
    parser.add_argument("--cpu", type=int, default=8)
    parser.add_argument("--step-seconds", type=float, default=30.0)
    parser.add_argument("--share-seconds", type=float, default=15.0)
    parser.add_argument("--templates", default="")
    parser.add_argument("--simulate", action="store_true", help="a dry run without a GPU")
    args = parser.parse_args()
    deadline = time.monotonic() + args.deadline_s
    args.visible = "0"
    args.step_args = ["--dim=256", "--layers=2", "--tokens=512"] if args.simulate else []
    only = set(args.only.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    record = Record(args.out / "accelerator.json")
    if "discovery" in only:
        guarded(record, "discovery", discovery)
    if "burn_in" in only:
        guarded(record, "burn_in", burn_in)
    if only & {"discovery", "job", "shares"}:
        home = Path(tempfile.mkdtemp(prefix="aicc-gpu-home-"))
        try:
            with server(home, args) as (api, url, token):
                fit(api, args)
                if "discovery" in only:
                    guarded(record, "node_list", lambda: node_list(api, url, token))
                if "job" in only:
                    guarded(record, "job", lambda: job_phase(api, args))
                if "shares" in only and time.monotonic() < deadline - 90:
                    guarded(record, "shares", lambda: shares_phase(api, args))
        except Exception as err:  # the server itself would not start: say so, go on
            record.put("server", {"error": f"{type(err).__name__}: {err}"[-2000:]})
        finally:
            shutil.rmtree(home, ignore_errors=True)
    if "templates" in only:
        guarded(record, "templates", lambda: templates_phase(args, deadline))
    print(json.dumps(record.data, indent=1, default=str)[-6000:])


if __name__ == "__main__":
    main()
