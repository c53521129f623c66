"""Old against new: every answer of the API and every `--json` listing of the CLI, compared.

A change that must not change what users see (issue 36: one read model per resource, "every API
response and `--json` output unchanged") is checked by running the same scenario against the
code before and after it and diffing the answers:

    .venv/bin/python scripts/api_compare.py --old /tmp/base36 --new .

For each source tree it starts a real server (`aicc serve` with PYTHONPATH=<tree>, a fresh
AICC_HOME, its own port, SQLite, the local executor), waits for /healthz, and runs one fixed
scenario through the public API as the center admin: an organization, a project, a user and
its membership, a token, a secret, a queue and quotas, a data set pushed with the CLI (its
versions, preview and profile), a job (`echo hi`) run to its end, a model registered from its
outputs, an API key, a deployment rolled to a second revision and stopped (each step waited
for), a notebook (not started), a power cap event, some billing objects, and answers computed
from them (an estimate, a template's fit, a query). Then it GETs every GET route of the tree's
OpenAPI document it can fill (path parameters from the scenario's objects; chunk downloads
left out, logs read without following) and runs every read command of the CLI with `--json`
(`typer.testing.CliRunner` in one process per tree, so stdout is the command's bytes).

Answers are normalized before they are written: ids (`job_01J...`) become `<job#1>`, numbered
per prefix in order of first appearance (the scenario's own objects first, so one extra id does
not renumber the rest); token and API key secrets `<secret#n>`; timestamps `<time#n>`, numbered
afresh in each answer; the server's address `<server>`; paths under the run's folder `<home>`;
numbers that depend on how long things took or how much memory a process used (durations, usage,
quantities) `<int>` / `<float>` / `<decimal>` (VOLATILE, `--volatile KEY`).
Keys keep their order and values their JSON type, and dicts are compared in order. One JSON
file per tree is written (`--out`, default a temporary folder) and a summary printed: routes
compared, identical, different (each with its first differing path). Exit status 1 on any
difference, 2 when a tree could not be run.

Both servers are stopped in `finally`, on Ctrl-C and SIGTERM too, with every process they
started (found by a marker in their environment). Nothing outlives the script. Starts wait up
to `--start-timeout` (180 s): a loaded two-core machine is slow, not broken.

Old against old (`--old X --new X`) must report no difference: it proves the normalization.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

Json = Any
MARKER = "AICC_COMPARE_SESSION"  # in the environment of everything a run starts
TERMINAL = {"succeeded", "failed", "cancelled"}
PROJECT, DATASET, MODEL, DEPLOYMENT, NOTEBOOK = (
    "cmp-project",
    "cmp-data",
    "cmp-model",
    "cmp-deploy",
    "cmp-notebook",
)
TABLE = "data.csv"
CSV = "id,name,score\n1,alpha,0.5\n2,beta,0.75\n3,gamma,1.0\n4,delta,\n"

# --- normalizing -------------------------------------------------------------------------------

ID_PREFIXES = (
    "job|node|dev|org|prj|usr|tok|que|sec|rep|pool|aud|plan|vch|sub|bud|inv|adj|dst|dsv|upl|mdl"
    "|tpl|rev|dep|key|req|nbk|idn|pcap"
)
ID = re.compile(rf"\b({ID_PREFIXES})_[0-9A-HJKMNP-TV-Z]{{26}}\b")
SECRET = re.compile(r"\baicc(?:-sk-|_)[A-Za-z0-9_\-]{30,}")
TIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?(?![\d:])"
)
# Numbers (or decimal strings) whose value depends on how long things took or on the machine's
# load, by their key: what two runs of one tree differed in (a job's usage, a replica's memory,
# a query's time, a bill's quantities). Not the estimates' hours, which are computed. On a
# machine with accelerators, add their usage keys with --volatile (accelerator_hours ...).
VOLATILE = {"seconds", "duration_us", "duration_s", "duration_ms", "elapsed_ms", "elapsed_s"}
VOLATILE |= {"cpu_core_hours", "memory_gib_hours", "peak_rss_mib", "quantity", "pid", "port"}
DECIMAL = re.compile(r"-?\d+(?:\.\d+)?")
HASHED = {"last_hash"}  # a digest over rows whose times and ids differ from run to run


@dataclass
class Normalizer:
    """Replaces what differs from run to run by placeholders; see the module's docstring.

    `seed` names ids before they are met (the scenario's objects, in the scenario's order)."""

    home: str = ""
    server: str = ""
    volatile: set[str] = field(default_factory=lambda: set(VOLATILE))
    numbers: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    times: dict[str, str] = field(default_factory=dict)  # numbered per answer (`answer`)

    def seed(self, raw: str) -> None:
        if raw and ID.fullmatch(raw):
            self.name(raw, raw.partition("_")[0])

    def name(self, raw: str, kind: str) -> str:
        if raw not in self.names:
            self.numbers[kind] = self.numbers.get(kind, 0) + 1
            self.names[raw] = f"<{kind}#{self.numbers[kind]}>"
        return self.names[raw]

    def text(self, value: str) -> str:
        if self.home:
            value = value.replace(self.home, "<home>")
        if self.server:
            value = value.replace(self.server, "<server>")
        value = SECRET.sub(lambda m: self.name(m.group(0), "secret"), value)
        value = ID.sub(lambda m: self.name(m.group(0), m.group(1)), value)
        return TIME.sub(lambda m: self.time(m.group(0)), value)

    def time(self, raw: str) -> str:
        if raw not in self.times:
            self.times[raw] = f"<time#{len(self.times) + 1}>"
        return self.times[raw]

    def answer(self, value: Json) -> Json:
        """One answer: ids keep their names from the answers before, times are numbered
        afresh (which of its times are the same instant is the answer's own; a time's number
        across answers would depend on every answer before it)."""
        self.times = {}
        return self(value)

    def __call__(self, value: Json, key: str = "") -> Json:
        if isinstance(value, dict):
            return {self.text(k): self(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, key) for v in value]
        if isinstance(value, str):
            if key in HASHED:
                return "<hash>"
            if key in self.volatile and DECIMAL.fullmatch(value):
                return "<decimal>"
            return self.text(value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float) and key in self.volatile:
            return f"<{type(value).__name__}>"
        return value


def differences(old: Json, new: Json, path: str = "$") -> Iterator[str]:
    """Where `old` and `new` differ, in order, each with both values: dict keys in order, JSON
    types apart (1 is not 1.0, "1" is not 1), lists item by item."""
    if type(old) is not type(new):
        yield f"{path}: {short(old)} -> {short(new)}"
    elif isinstance(old, dict):
        gone, added = [k for k in old if k not in new], [k for k in new if k not in old]
        if gone or added:
            yield f"{path} keys: -{short(gone)} +{short(added)}"
        elif list(old) != list(new):
            yield f"{path} key order: {short(list(old))} -> {short(list(new))}"
        for k in old:
            if k in new:
                yield from differences(old[k], new[k], f"{path}.{k}")
    elif isinstance(old, list):
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            yield from differences(a, b, f"{path}[{i}]")
        if len(old) != len(new):
            yield f"{path}: {len(old)} items -> {len(new)}"
    elif old != new:
        yield f"{path}: {short(old)} -> {short(new)}"


def short(value: Json, width: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[:width] + "..."


# --- a server of one tree ------------------------------------------------------------------------

AICC = "import sys; from aicc.cli.main import app; sys.argv[0] = 'aicc'; app(prog_name='aicc')"
CONFIG = """\
loop_interval_s: 0.2
limits:
  rate_limit: {per_token_per_s: 1000000, per_token_burst: 1000000,
               per_address_per_s: 1000000, per_address_burst: 1000000}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Tree:
    """One source tree under test: its server, its home, its scratch files."""

    label: str
    root: Path
    work: Path
    session: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def home(self) -> Path:
        return self.work / "home"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.work / "server.log"

    def env(self, **extra: str) -> dict[str, str]:
        """This tree on PYTHONPATH, no AICC_* setting of the caller's, the session marker."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AICC_")}
        env |= {"PYTHONPATH": str(self.root), "HOME": str(self.work), MARKER: self.session}
        return env | {"AICC_HOME": str(self.home)} | extra

    def start(self, timeout: float) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "config.yaml").write_text(CONFIG)
        args = [sys.executable, "-c", AICC, "serve", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*args, "--home", str(self.home)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.work,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label}: the server exited at start:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label}: no /healthz in {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.3)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def token(self) -> str:
        return (self.home / "admin.token").read_text().strip()

    def stop(self) -> None:
        """The server, then the replicas it left (they outlive a server by design), as the
        tree's own test harness finds them; `kill_marked` then ends whatever is left."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None
        kill = "from aicc.testing.servers import kill_leftover_replicas as k; import sys; "
        kill += "from pathlib import Path; k(Path(sys.argv[1]))"
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            command = [sys.executable, "-c", kill, str(self.home)]
            subprocess.run(command, env=self.env(), capture_output=True, timeout=60, check=False)


def marked(session: str) -> set[int]:
    """The processes whose environment carries `session`, and their descendants (a replica's
    environment is its own); this script excepted."""
    needle, parents, found = f"{MARKER}={session}".encode(), {}, set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.add(int(entry.name))
    grown = True
    while grown:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        found |= more
        grown = bool(more)
    return found


def kill_marked(session: str) -> set[int]:
    """TERM, then KILL, every process of the run still alive; the pids it found."""
    found = marked(session)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in marked(session) | found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while marked(session) and time.monotonic() < deadline:
            time.sleep(0.1)
    return found


# --- the CLI, in one process per tree ------------------------------------------------------------

CLI_DRIVER = """
import json, sys
from typer.testing import CliRunner
from aicc.cli.main import app
todo = json.loads(open(sys.argv[1]).read())
done = []
for args in todo["commands"]:
    result = CliRunner().invoke(app, args, env=todo["env"])
    done.append({"exit_code": result.exit_code, "stdout": result.stdout})
open(sys.argv[2], "w").write(json.dumps(done))
"""


def run_cli(tree: Tree, commands: list[list[str]], timeout: float) -> list[dict[str, Json]]:
    """`aicc ARGS` for each of `commands` against the tree's server: exit code and stdout."""
    todo, done = tree.work / "cli-in.json", tree.work / "cli-out.json"
    env = {"AICC_SERVER": tree.url, "AICC_TOKEN": tree.token, "COLUMNS": "200"}
    todo.write_text(json.dumps({"commands": commands, "env": env}))
    result = subprocess.run(
        [sys.executable, "-c", CLI_DRIVER, str(todo), str(done)],
        env=tree.env(),
        cwd=tree.work,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        failed = result.stderr.decode(errors="replace")[-3000:]
        raise RuntimeError(f"{tree.label}: the CLI driver failed:\n{failed}")
    answers: list[dict[str, Json]] = json.loads(done.read_text())
    return answers


# --- the scenario -------------------------------------------------------------------------------


@dataclass
class Run:
    """One tree's answers, by route (`METHOD /path/{param}`) or command (`aicc ...`)."""

    tree: Tree
    http: httpx.Client
    answers: dict[str, Json] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # what the scenario made, by role
    skipped: list[str] = field(default_factory=list)

    def record(self, key: str, answer: Json) -> None:
        n, unique = 1, key
        while unique in self.answers:
            n += 1
            unique = f"{key} #{n}"
        self.answers[unique] = answer

    def call(
        self,
        method: str,
        route: str,
        *,
        path: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        json: Json = None,
        headers: dict[str, str] | None = None,
        must: bool = True,
    ) -> Json:
        """`method` on `route` (its {params} filled from `path`), recorded; the JSON answer.
        `must`: an error answer ends the run (a later step needs what this one makes)."""
        url = route.format(**(path or {}))
        response = self.http.request(method, url, params=params, json=json, headers=headers)
        body = body_of(response)
        self.record(f"{method} {route}", {"status": response.status_code, **body})
        if must and response.status_code >= 400:
            raise RuntimeError(f"{self.tree.label}: {method} {url}: {response.status_code} {body}")
        return body.get("json")


def body_of(response: httpx.Response) -> dict[str, Json]:
    """The answer as JSON when it is, else as text, else only its size class."""
    kind = response.headers.get("content-type", "").split(";")[0]
    if kind == "application/json" or kind.endswith("+json"):
        with contextlib.suppress(ValueError):
            return {"type": kind, "json": response.json()}
    if kind.startswith("text/") or kind in ("application/x-ndjson", "application/jsonl"):
        return {"type": kind, "text": response.text}
    return {"type": kind, "binary": "<bytes>" if response.content else ""}


def scenario(run: Run, timeout: float) -> None:
    """Build the objects every later read names, through the API (data through the CLI)."""
    ids, call = run.ids, run.call
    ids["org"] = call("POST", "/api/v1/orgs", json={"name": "cmp-org"})["id"]
    project = {"name": PROJECT, "org_id": ids["org"]}
    p = ids["project"] = call("POST", "/api/v1/projects", json=project)["id"]
    user = {"name": "cmp-user", "role": "member", "org_id": ids["org"]}
    ids["user"] = call("POST", "/api/v1/users", json=user)["id"]
    member = {"user_id": ids["user"]}
    call("POST", "/api/v1/projects/{project_id}/members", path={"project_id": p}, json=member)
    token = call("POST", "/api/v1/tokens", json={"name": "cmp-token", "user_id": ids["user"]})
    ids["token"] = token["id"]
    secret, at = {"value": "cmp-secret-value"}, {"project": p}
    call("PUT", "/api/v1/secrets/{name}", path={"name": "CMP_KEY"}, params=at, json=secret)
    ids["queue"] = call("POST", "/api/v1/queues", json={"name": "cmp-lane", "project": p})["id"]
    quota = {"max": {"cpu_milli": 64000}}
    call("PUT", "/api/v1/orgs/{org_id}/quota", path={"org_id": ids["org"]}, json=quota)
    quota = {"max": {"cpu_milli": 8000}}
    call("PUT", "/api/v1/projects/{project_id}/quota", path={"project_id": p}, json=quota)

    data = run.tree.work / "data"
    data.mkdir(exist_ok=True)
    (data / TABLE).write_text(CSV)
    (data / "README.md").write_text("# cmp-data\n\nA tiny table.\n")
    (data / "images" / "cat").mkdir(parents=True, exist_ok=True)
    (data / "images" / "cat" / "1.png").write_bytes(png(4, 4))
    push = ["data", "push", DATASET, str(data), "-p", p, "--json"]
    (pushed,) = run_cli(run.tree, [push], timeout)
    run.record("aicc data push --json", pushed)
    if pushed["exit_code"] != 0:
        raise RuntimeError(f"{run.tree.label}: aicc data push: {pushed['stdout']}")

    command = (
        "echo hi; echo weights > $AICC_OUTPUT_DIR/weights.bin; "
        'echo \'{"step": 1, "loss": 0.5}\' > $AICC_OUTPUT_DIR/metrics.jsonl'
    )
    spec: dict[str, Json] = {"name": "cmp-job", "command": command, "project": p}
    spec |= {"queue": "cmp-lane", "secrets": ["CMP_KEY"], "datasets": [DATASET]}
    job = call("POST", "/api/v1/jobs", json=spec, headers={"Idempotency-Key": "cmp-submit"})
    ids["job"] = job["id"]
    deadline = time.monotonic() + timeout
    while job["state"] not in TERMINAL:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run.tree.label}: the job stayed {job['state']}")
        time.sleep(0.3)
        job = run.http.get(f"/api/v1/jobs/{ids['job']}").json()
    if job["state"] != "succeeded":
        raise RuntimeError(f"{run.tree.label}: the job {job['state']}: {job.get('message')}")

    register = {"job_id": ids["job"], "project": p, "format": "raw", "metrics": {"acc": 0.5}}
    call("POST", "/api/v1/models/{name}/versions", path={"name": MODEL}, json=register)
    review = {"rating": 4, "text": "fine"}
    call("PUT", "/api/v1/models/{name}/reviews", path={"name": MODEL}, params=at, json=review)
    ids["key"] = call("POST", "/api/v1/keys", params=at, json={"name": "cmp-key"})["id"]
    deployment(run, timeout)
    notebook = {"name": NOTEBOOK, "project": p, "start": False}
    call("POST", "/api/v1/notebooks", json=notebook)
    cap = {"cap_kw": 900, "duration_s": "2h"}
    ids["cap"] = call("POST", "/api/v1/center/power-cap/events", json=cap)["id"]
    org = ids["org"]
    voucher = {"org_id": org, "name": "cmp-voucher", "amount": "9"}
    ids["voucher"] = call("POST", "/api/v1/vouchers", json=voucher)["id"]
    call(
        "PUT", "/api/v1/projects/{project_id}/budget", path={"project_id": p}, json={"limit": "77"}
    )
    call("POST", "/api/v1/subsidies", json={"name": "cmp-subsidy", "org_id": org, "rate": "0.5"})
    plan = {"org_id": org, "effective_from": "2026-01-01T00:00:00Z", "discount": "0.1"}
    call("POST", "/api/v1/price-plans", json=plan)
    call("POST", "/api/v1/bills/issue", json={"org_id": org, "month": "2025-01"})
    templates = run.http.get("/api/v1/templates", params={"limit": 1}).json()["items"]
    ids["template"] = templates[0]["name"] if templates else "no-template"
    computed(run)


def computed(run: Run) -> None:
    """Answers computed from what is there, changing nothing (their errors are answers too)."""
    at = {"project": run.ids["project"]}
    scenario = {"scenario": "llm-pretrain", "params": "1B", "tokens": "1B"}
    estimate = {"scenario": scenario, "accelerator": ["A100"], **at}
    run.call("POST", "/api/v1/estimate", json=estimate, must=False)
    template = {"name": run.ids["template"]}
    route = "/api/v1/templates/{name}/estimate"
    run.call("POST", route, path=template, json={"data": f"{DATASET}@1", **at}, must=False)
    version = {"name": DATASET, "number": "1"}
    query = {"sql": "SELECT name, score FROM data ORDER BY id"}
    route = "/api/v1/datasets/{name}/versions/{number}/query"
    run.call("POST", route, path=version, params=at, json=query, must=False)


def png(width: int, height: int) -> bytes:
    """A small orange picture (the data set's thumbnails), without an imaging library."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def deployment(run: Run, timeout: float) -> None:
    """A deployment rolled to revision 2, then stopped: each step waited for, so that the
    replicas (jobs) it leaves are the same on every run."""
    p, name, call = run.ids["project"], {"name": DEPLOYMENT}, run.call
    serve = "python3 -m http.server $PORT --bind 127.0.0.1"
    spec = {"name": DEPLOYMENT, "command": serve, "project": p, "readiness_path": "/"}
    call("POST", "/api/v1/deployments", json=spec)
    settle(run, lambda d: d["state"] == "ready" and ready_at(d, 1), timeout)
    patch = {"env": {"CMP": "1"}}
    call("PATCH", "/api/v1/deployments/{name}", path=name, params={"project": p}, json=patch)
    settle(run, lambda d: d["state"] == "ready" and ready_at(d, 2), timeout)
    call("POST", "/api/v1/deployments/{name}/stop", path=name, params={"project": p})
    settle(run, lambda d: d["state"] == "stopped" and not d["replicas"], timeout)
    deadline = time.monotonic() + timeout
    while True:  # the replicas' jobs have ended
        jobs = run.http.get("/api/v1/jobs", params={"project": p}).json()["items"]
        if all(j["state"] in TERMINAL for j in jobs):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run.tree.label}: the deployment's jobs did not end")
        time.sleep(0.3)


def ready_at(deployment: Json, revision: int) -> bool:
    replicas = deployment["replicas"]
    return len(replicas) == 1 and all(r["revision"] == revision and r["ready"] for r in replicas)


def settle(run: Run, done: Callable[[Json], bool], timeout: float) -> None:
    """Until the deployment is as `done` wants it."""
    params = {"project": run.ids["project"]}
    deadline = time.monotonic() + timeout
    while True:
        found = run.http.get(f"/api/v1/deployments/{DEPLOYMENT}", params=params).json()
        if done(found):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run.tree.label}: the deployment stayed {short(found)}")
        time.sleep(0.3)


# --- every GET route, every read command ------------------------------------------------------

SKIP = {
    "/api/v1/jobs/{job_id}/chunks/{digest}": "a chunk's bytes",
    "/api/v1/datasets/{name}/chunks/{digest}": "a chunk's bytes",
    "/api/v1/models/{name}/chunks/{digest}": "a chunk's bytes",
}


def path_fills(run: Run) -> dict[tuple[str, str], str]:
    """A path parameter by (the segment before it, its name)."""
    ids = run.ids
    return {
        ("orgs", "org_id"): ids["org"],
        ("projects", "project_id"): ids["project"],
        ("users", "user_id"): ids["user"],
        ("tokens", "token_id"): ids["token"],
        ("jobs", "job_id"): ids["job"],
        ("vouchers", "voucher_id"): ids["voucher"],
        ("datasets", "name"): DATASET,
        ("versions", "number"): "1",
        ("data", "name"): DATASET,
        ("models", "name"): MODEL,
        ("templates", "name"): ids["template"],
        ("deployments", "name"): DEPLOYMENT,
        ("notebooks", "notebook"): NOTEBOOK,
        ("secrets", "name"): "CMP_KEY",
        ("events", "event_id"): ids["cap"],
    }


def query_fills(run: Run) -> dict[str, str]:
    ids = run.ids
    return {"project": ids["project"], "org": ids["org"], "job": ids["job"], "path": TABLE}
    # left out: filters, paging and presentation (state, limit, cursor, month, follow, ...)


def walk_gets(run: Run, openapi: Json) -> None:
    fills, queries = path_fills(run), query_fills(run)
    queries_required = {"old": "1", "new": "1"}
    for route, item in openapi["paths"].items():
        spec = item.get("get")
        if spec is None:
            continue
        if route in SKIP:
            run.skipped.append(f"GET {route}: {SKIP[route]}")
            continue
        path: dict[str, str] = {}
        params: dict[str, str] = {}
        missing = []
        for match in re.finditer(r"\{(\w+)\}", route):
            before = route[: match.start()].rstrip("/").rsplit("/", 1)[-1]
            value = fills.get((before, match.group(1)))
            if value is None:
                missing.append(match.group(1))
            path[match.group(1)] = value or ""
        for param in spec.get("parameters", []):
            name = param["name"]
            if param["in"] != "query":
                continue
            if name in queries:
                params[name] = queries[name]
            elif name in queries_required:
                params[name] = queries_required[name]
            elif param.get("required"):
                missing.append(name)
        if missing:
            run.skipped.append(f"GET {route}: cannot fill {', '.join(missing)}")
            continue
        run.call("GET", route, path=path, params=params, must=False)
    fit = {"data": f"{DATASET}@1", "project": run.ids["project"]}
    run.call("GET", "/api/v1/templates?data", params=fit, must=False)
    run.record("GET /openapi.json", {"status": 200, "json": openapi})


# Every read command that prints `--json` (appended), naming the scenario's objects.
CLI_READS = """
job list | job get {job} | job events {job} | job explain {job} | job metrics {job}
job usage {job} | node list | org list | project list | user list | token list
queue list -p {project} | secret list -p {project} | key list -p {project}
data list -p {project} | data get {data} -p {project} | data versions {data} -p {project}
data preview {data}@1 -p {project} | data profile {data}@1 --path {table} -p {project}
data diff {data} 1 1 -p {project} | model list -p {project} | model get {model} -p {project}
model version {model}@1 -p {project} | template list | template show {template}
template list --data {data}@1 -p {project} | deploy list -p {project}
deploy get {deployment} -p {project} | notebook list -p {project}
notebook get {notebook} -p {project} | accelerator list | center power-cap list | center report
federation sites | federation settlements | admin price-plan list --org {org}
admin price-plan show --org {org} | admin voucher list | admin subsidy list | admin budget list
admin invoice list | audit verify | bill --org {org}
"""


def cli_reads(run: Run) -> list[list[str]]:
    names = {"data": DATASET, "table": TABLE, "model": MODEL, "deployment": DEPLOYMENT}
    names |= {"notebook": NOTEBOOK, **run.ids}
    lines = CLI_READS.replace("\n", "|").split("|")
    return [[*line.format(**names).split(), "--json"] for line in lines if line.strip()]


def cli_key(command: list[str], ids: dict[str, str]) -> str:
    """`aicc job get <job> --json`: the command with the scenario's ids by role."""
    names = {v: f"<{k}>" for k, v in ids.items()}
    return "aicc " + " ".join(names.get(a, a) for a in command)


def run_tree(tree: Tree, args: argparse.Namespace) -> tuple[Json, Run]:
    """Start the tree's server, run everything, stop it: its normalized answers."""
    tree.start(args.start_timeout)
    timeout = args.timeout
    headers = {"Authorization": f"Bearer {tree.token}"}
    with httpx.Client(base_url=tree.url, headers=headers, timeout=60) as http:
        run = Run(tree, http)
        scenario(run, timeout)
        openapi = http.get("/openapi.json").json()
        walk_gets(run, openapi)
        commands = cli_reads(run)
        for command, answer in zip(commands, run_cli(tree, commands, timeout), strict=True):
            text = answer["stdout"]
            try:
                out: Json = {"exit_code": answer["exit_code"], "json": json.loads(text)}
            except ValueError:
                out = {"exit_code": answer["exit_code"], "text": text}
            run.record(cli_key(command, run.ids), out)
    normalize = Normalizer(home=str(tree.work), server=f"127.0.0.1:{tree.port}")
    normalize.volatile |= set(args.volatile)
    for role in ("org", "project", "user", "token", "queue", "job", "key", "cap", "voucher"):
        normalize.seed(run.ids.get(role, ""))
    return {key: normalize.answer(answer) for key, answer in run.answers.items()}, run


# --- main ---------------------------------------------------------------------------------------


def compare(old: Json, new: Json, *, every: bool = False) -> tuple[list[str], list[str]]:
    """(identical keys, `key: first difference` lines), over the union in old's order;
    `every`: each difference of an answer on a line of its own."""
    same, different = [], []
    for key in [*old, *(k for k in new if k not in old)]:
        if key not in new:
            different.append(f"{key}: only in old")
        elif key not in old:
            different.append(f"{key}: only in new")
        else:
            found = list(differences(old[key], new[key]))
            if not found:
                same.append(key)
            elif every:
                different += [f"{key}: {line}" for line in found]
            else:
                more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
                different.append(f"{key}: {found[0]}{more}")
    return same, different


def run_both(trees: list[Tree], args: argparse.Namespace) -> list[Json]:
    """Each tree in a thread of its own (one after the other unless `--parallel`); the caller
    stops the servers, also on Ctrl-C. SystemExit(2) when a tree could not be run."""
    results: dict[str, Json] = {}
    errors: dict[str, BaseException] = {}
    skipped: dict[str, None] = {}

    def work(tree: Tree) -> None:
        try:
            results[tree.label], run = run_tree(tree, args)
            skipped.update(dict.fromkeys(run.skipped))
        except BaseException as error:  # reported by the main thread
            errors[tree.label] = error
        finally:
            tree.stop()

    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in trees]
    for thread in threads:
        thread.start()
        while not args.parallel and thread.is_alive():
            thread.join(0.2)  # in steps: Ctrl-C reaches the main thread
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    for line in skipped:
        print(f"  skipped {line}", file=sys.stderr)
    for label, error in errors.items():
        tree = next(t for t in trees if t.label == label)
        print(f"api_compare: {label} ({tree.root}): {error}", file=sys.stderr)
        print(f"  its server's log: {tree.log}", file=sys.stderr)
    if errors:
        raise SystemExit(2)
    return [results[t.label] for t in trees]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="the tree before the change")
    parser.add_argument("--new", type=Path, required=True, help="the tree after it")
    parser.add_argument("--out", type=Path, help="where old.json and new.json go")
    parser.add_argument("--timeout", type=float, default=180, help="a job's wait, the CLI's")
    parser.add_argument("--start-timeout", type=float, default=180, help="a server's start")
    parser.add_argument("--parallel", action="store_true", help="run both trees at once")
    parser.add_argument("--all", action="store_true", help="every difference, not the first")
    parser.add_argument(
        "--volatile", action="append", default=[], help="one more key whose numbers vary"
    )
    args = parser.parse_args(argv)
    for root in (args.old, args.new):
        if not (root / "aicc" / "__init__.py").exists():
            parser.error(f"{root}: no aicc package there")
    out = args.out or Path(tempfile.mkdtemp(prefix="api-compare-"))
    out.mkdir(parents=True, exist_ok=True)
    session = f"{os.getpid()}-{secrets.token_hex(6)}"
    work = Path(tempfile.mkdtemp(prefix="api-compare-work-"))
    trees = [Tree("old", args.old.resolve(), work / "old", session)]
    trees.append(Tree("new", args.new.resolve(), work / "new", session))

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where started ignoring it
    began, failed = time.monotonic(), False
    try:
        old, new = run_both(trees, args)
    except KeyboardInterrupt:
        print("api_compare: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        failed = True  # the homes and logs are kept to read
        raise
    finally:
        for tree in trees:
            tree.stop()
        left = kill_marked(session)
        if left:
            print(f"api_compare: stopped {len(left)} processes left running", file=sys.stderr)
        if not failed:
            shutil.rmtree(work, ignore_errors=True)
    for label, answers in (("old", old), ("new", new)):
        (out / f"{label}.json").write_text(json.dumps(answers, indent=1, ensure_ascii=False))
    same, different = compare(old, new, every=args.all)
    print(
        f"compared {len(old.keys() | new.keys())} answers in {time.monotonic() - began:.0f} s: "
        f"{len(same)} identical, {len(old.keys() | new.keys()) - len(same)} different "
        f"({out}/old.json, new.json)"
    )
    for line in different:
        print(f"  DIFFERENT {line}")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
