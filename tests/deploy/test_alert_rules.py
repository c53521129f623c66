"""The operators' alerts of deploy/prometheus/aicc-alerts.yaml, in Debian's Prometheus and
Alertmanager: each shipped rule fires on the condition it names and reaches a receiver.

Against a real AICC server (in this process, behind a real socket), scraped by a real
`prometheus` every second, whose alerts go to a real `prometheus-alertmanager` that routes
everything to a webhook (a local `http.server`), the rules loaded being the shipped file scaled
by `quick` (durations only: `for:` 2 s, range windows 15 s; expressions and thresholds as
shipped). Produced for real there:

- AICCNoLeader: the server serves the API without its control loops (`loops=False`, as a
  process of `workers` that leaves the loops to another does), so none leads;
- AICCAcceleratorsIdleWhileJobsWait: with nobody leading, a job waits while the two A100s an
  operator declared in an inventory (real devices, `simulated="false"`) stay free;
- AICCGatewayErrors and AICCServerErrors: a deployment that has no ready replica (none is
  started without the loops) answers its API calls 503, which are 5xx answers of the server;
- AICCSubmitSlow: submits wait on a database held locked (a real SQLite write lock);
- AICCServerDown: the server stops.

Not produced against the server, and tested with `promtool test rules` instead (Prometheus's
own rule engine on input series, the shipped file unscaled): AICCSchedulerStalled (a leader
whose schedule step stops cycling: a pass that hangs for 5 minutes), AICCSchedulerCycleSlow
(a p99 cycle over 5 s for 10 minutes), AICCControlPassesFailing (passes that raise, which a
healthy server does not do on purpose), AICCJobsWaitLong (jobs waiting over an hour),
AICCNodeDown and AICCNodeQuarantined (a node lost by its engine, or failing its burn-in: the
`aicc_nodes` gauge counts them), AICCNotificationsFailing (deliveries that gave up),
AICCGatewayTierObjectiveMissed (a tier's p95 over its objective for 10 minutes) and
AICCGatewayColdStartSlow (starts from zero over a minute).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from aicc.testing import upstream
from aicc.testing.polling import wait
from aicc.testing.servers import free_port, over_http

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "aicc-alerts.yaml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
MISSING = [p for p in (PROMETHEUS, ALERTMANAGER, PROMTOOL) if not Path(p).is_file()]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"MISSING {MISSING}: THE SHIPPED ALERT RULES ARE NOT TESTED; install Debian's "
    "prometheus and prometheus-alertmanager (scripts/install-test-deps.sh)",
)
LIVE = {
    "AICCServerDown",
    "AICCNoLeader",
    "AICCServerErrors",
    "AICCSubmitSlow",
    "AICCGatewayErrors",
    "AICCAcceleratorsIdleWhileJobsWait",
}
BY_PROMTOOL = {
    "AICCNodeDown",
    "AICCNodeQuarantined",
    "AICCNotificationsFailing",
    "AICCSchedulerStalled",
    "AICCSchedulerCycleSlow",
    "AICCControlPassesFailing",
    "AICCJobsWaitLong",
    "AICCGatewayTierObjectiveMissed",
    "AICCGatewayColdStartSlow",
}
PROM_URL = [""]  # the running Prometheus, for what a failure says
WINDOW = re.compile(r"\[\d+[smhd]\]")


def quick(shipped: dict[str, Any]) -> dict[str, Any]:
    """The shipped rules with their durations scaled for a test of seconds: every `for:` is
    2 s and every range window ([5m], [10m], [1h]) 15 s, 15 scrapes at one a second. Nothing
    else changes: the expressions, thresholds, labels and annotations are the shipped ones."""
    groups = []
    for group in shipped["groups"]:
        rules = []
        for rule in group["rules"]:
            rule = {**rule, "expr": WINDOW.sub("[15s]", rule["expr"])}
            if "for" in rule:
                rule["for"] = "2s"
            rules.append(rule)
        groups.append({**group, "rules": rules})
    return {"groups": groups}


def shipped() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return doc


def test_every_shipped_rule_is_covered_once() -> None:
    names = [r["alert"] for g in shipped()["groups"] for r in g["rules"]]
    assert sorted(names) == sorted(LIVE | BY_PROMTOOL) and not LIVE & BY_PROMTOOL
    assert len(names) == 15


# --- the receiver and the two daemons ---------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """Alertmanager's webhook: every alert it was sent, by name."""

    def __init__(self) -> None:
        self.alerts: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Hook)

    def seen(self) -> set[str]:
        with self.lock:
            return set(self.alerts)


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server: Receiver = self.server  # type: ignore[assignment]
        with server.lock:
            for alert in body["alerts"]:
                if alert["status"] == "firing":
                    server.alerts.setdefault(alert["labels"]["alertname"], alert)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@contextmanager
def daemon(argv: list[str], log: Path, ready: str) -> Iterator[subprocess.Popen[bytes]]:
    """A daemon, up once `ready` (a URL) answers 200; stopped, and waited for, in `finally`."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait(f"{argv[0]} ready (log: {log})", lambda: _answers(ready, proc, log), timeout=30)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _answers(url: str, proc: subprocess.Popen[bytes], log: Path) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"{url}: exited {proc.returncode}: {log.read_text()[-2000:]}")
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def alertmanager(tmp: Path, hook: int) -> Any:
    port = free_port()
    config = {
        "route": {
            "receiver": "hook",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "hook", "webhook_configs": [{"url": f"http://127.0.0.1:{hook}/"}]}],
    }
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(config))
    argv = [ALERTMANAGER, f"--config.file={tmp / 'alertmanager.yml'}"]
    argv += [f"--storage.path={tmp / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}"]
    argv += ["--cluster.listen-address="]  # alone: no gossip port
    return port, daemon(argv, tmp / "alertmanager.log", f"http://127.0.0.1:{port}/-/ready")


def prometheus(tmp: Path, target: str, token: str, am_port: int) -> Any:
    port = free_port()
    (tmp / "aicc.token").write_text(token)
    (tmp / "rules.yaml").write_text(yaml.safe_dump(quick(shipped()), sort_keys=False))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(tmp / "rules.yaml")],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": "aicc",
                "authorization": {"credentials_file": str(tmp / "aicc.token")},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    PROM_URL[0] = f"http://127.0.0.1:{port}"
    argv = [PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}"]
    argv += [f"--storage.tsdb.path={tmp / 'prom-data'}", f"--web.listen-address=127.0.0.1:{port}"]
    return daemon(argv, tmp / "prometheus.log", f"http://127.0.0.1:{port}/-/ready")


# --- producing the conditions -----------------------------------------------------------------


def _keep_calling(url: str, key: str, stop: threading.Event) -> None:
    """The deployment's clients, calling it until told to stop (each answer a 503)."""
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    bearer = {"Authorization": f"Bearer {key}"}
    while not stop.wait(0.2):
        httpx.post(url + "/v1/chat/completions", json=body, headers=bearer, timeout=10)


def _slow_submits(api: httpx.Client, database: Path) -> list[float]:
    """Two submits while the database is held locked for 0.8 s (another writer's long
    transaction): the seconds each took."""
    held = sqlite3.connect(database, timeout=30, isolation_level=None)
    took: list[float] = []

    def submit() -> None:
        start = time.monotonic()
        answer = api.post("/api/v1/jobs", json={"command": "true"})
        assert answer.status_code == 201, answer.text
        took.append(time.monotonic() - start)

    try:
        held.execute("BEGIN IMMEDIATE")
        threads = [threading.Thread(target=submit) for _ in range(2)]
        for thread in threads:
            thread.start()
        time.sleep(0.8)
        held.execute("COMMIT")
        for thread in threads:
            thread.join(timeout=30)
    finally:
        held.close()
    return took


def _scraped(prom: str) -> None:
    """Until Prometheus has scraped the server twice (`up` has two samples)."""

    def twice() -> bool:
        query = {"query": 'count_over_time(up{job="aicc"}[1m])'}
        found = httpx.get(prom + "/api/v1/query", params=query, timeout=5).json()["data"]
        return bool(found["result"]) and float(found["result"][0]["value"][1]) >= 2

    wait("two scrapes of the server", twice, timeout=30)


def _arrived(receiver: Receiver, names: set[str], timeout: float, prom: str) -> None:
    """Until every alert of `names` reached the receiver; else what Prometheus saw, to say why."""
    try:
        wait(
            f"alerts {sorted(names)} at the receiver",
            lambda: names <= receiver.seen() or None,
            timeout=timeout,
            every=0.25,
        )
    except AssertionError as err:
        alerts = httpx.get(prom + "/api/v1/alerts", timeout=5).text[:3000]
        targets = httpx.get(prom + "/api/v1/targets", timeout=5).text[:1500]
        raise AssertionError(f"{err}; received {receiver.seen()}; {alerts}; {targets}") from None


@pytest.mark.slow  # real processes end to end: a server, Prometheus, Alertmanager (~30 s)
def test_each_rule_fires_on_its_condition_and_reaches_the_receiver(tmp_path: Path) -> None:
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    port, calling = free_port(), threading.Event()
    with ExitStack() as stack:
        stack.callback(receiver.shutdown)
        am_port, am = alertmanager(tmp_path, receiver.server_address[1])
        stack.enter_context(am)
        later = stack.enter_context(ExitStack())  # Prometheus: stopped after the server
        stack.callback(calling.set)
        home = tmp_path / "home"
        quick_cold = {"cold_start_timeout_s": 0.1}
        with over_http(home, loops=False, port=port, deployments=quick_cold) as (url, token, _):
            later.enter_context(prometheus(tmp_path, f"127.0.0.1:{port}", token, am_port))
            api = httpx.Client(
                timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
            )
            callers = _produce(api, url, calling)
            callers.start()
            _scraped(PROM_URL[0])  # a rate needs the counters before the slow submits
            assert min(_slow_submits(api, home / "aicc.db")) > 0.5
            _arrived(receiver, LIVE - {"AICCServerDown"}, 40, PROM_URL[0])
            calling.set()
            callers.join(timeout=15)
        _arrived(receiver, {"AICCServerDown"}, 30, PROM_URL[0])  # the server stopped
    _check_labels(receiver, port)


def _produce(api: httpx.Client, url: str, calling: threading.Event) -> threading.Thread:
    """A job waiting on two free A100s an operator declared (real devices: `simulated` is
    false), and a deployment with no ready replica, with clients calling it (not yet started)."""
    inventory: dict[str, Any] = {"name": "gpu-1", "cpu": 8, "memory": "64GiB"}
    inventory["devices"] = [{"model": "A100-80GB", "count": 2}]
    assert api.post("/api/v1/nodes/import", json={"nodes": [inventory]}).is_success
    waiting = {"command": "true", "resources": {"accelerator": {"count": 1}}}
    assert api.post("/api/v1/jobs", json=waiting).status_code == 201
    deployment = {
        "name": "chat",
        "command": shlex.join(upstream.command()),
        "min_replicas": 1,
        "resources": {"cpu": 0.1, "memory": "128MiB"},
    }
    assert api.post("/api/v1/deployments", json=deployment).status_code == 201
    key = api.post("/api/v1/keys", json={"name": "k"}).json()["secret"]
    return threading.Thread(target=_keep_calling, args=(url, key, calling))


def _check_labels(receiver: Receiver, port: int) -> None:
    alerts = receiver.alerts
    leader = alerts["AICCNoLeader"]
    assert leader["labels"]["severity"] == "critical"
    assert leader["annotations"]["summary"] == "No AICC server runs the control loops"
    gateway = alerts["AICCGatewayErrors"]
    assert gateway["labels"]["deployment"] == "chat" and gateway["labels"]["severity"] == "warning"
    assert gateway["annotations"]["summary"] == "Deployment chat fails over 5% of its API requests"
    assert alerts["AICCServerErrors"]["labels"]["severity"] == "warning"
    assert alerts["AICCSubmitSlow"]["annotations"]["summary"].startswith("Submitting a job")
    down = alerts["AICCServerDown"]
    assert down["labels"]["instance"] == f"127.0.0.1:{port}"
    assert (
        down["annotations"]["summary"] == f"AICC server 127.0.0.1:{port} does not answer /metrics"
    )
    idle = alerts["AICCAcceleratorsIdleWhileJobsWait"]
    assert idle["annotations"]["summary"] == "Jobs wait while over half the accelerators are free"


# --- the rules no test server produces: Prometheus's rule engine on input series -----------


def _rule(name: str) -> dict[str, Any]:
    return next(r for g in shipped()["groups"] for r in g["rules"] if r["alert"] == name)


def _expect(name: str, **summary_values: str) -> list[dict[str, Any]]:
    """The alert as the shipped rule says it: its labels, and its annotations with their
    template filled in from `summary_values` ($value)."""
    rule = _rule(name)
    annotations = dict(rule["annotations"])
    for template, value in summary_values.items():
        annotations["summary"] = annotations["summary"].replace(template, value)
    return [{"exp_labels": dict(rule["labels"]), "exp_annotations": annotations}]


def _case(series: dict[str, str], name: str, quiet: str, firing: str, **values: str) -> Any:
    """One promtool test: `series` (one sample a minute), no alert at `quiet`, then the alert
    firing at `firing`."""
    return {
        "interval": "1m",
        "input_series": [{"series": k, "values": v} for k, v in series.items()],
        "alert_rule_test": [
            {"eval_time": quiet, "alertname": name, "exp_alerts": []},
            {"eval_time": firing, "alertname": name, "exp_alerts": _expect(name, **values)},
        ],
    }


AICC = 'job="aicc", instance="aicc-1:8080"'
SCHEDULE = f'step="schedule", {AICC}'


def test_the_rules_no_test_server_produces_fire_in_promtool(tmp_path: Path) -> None:
    """The shipped file as it is (no scaling): a leader whose scheduler stops cycling at minute
    5 (stalled 5 minutes later, firing 5 minutes after that); cycles of 5 to 10 s for 10
    minutes; a control pass failing every minute from minute 6 (the window of 10 minutes
    holds 10 samples 9 minutes apart, so the engine counts 9); jobs waiting one to two hours.
    Each also shows no alert before its condition has held long enough."""
    stalled = {
        f"aicc_controller_leading{{{AICC}}}": "1x30",
        f"aicc_controller_step_seconds_count{{{SCHEDULE}}}": "100+10x5 150x25",
    }
    slow = {
        f'aicc_controller_step_seconds_bucket{{le="1", {SCHEDULE}}}': "0x30",
        f'aicc_controller_step_seconds_bucket{{le="5", {SCHEDULE}}}': "0x30",
        f'aicc_controller_step_seconds_bucket{{le="10", {SCHEDULE}}}': "0+6x30",
        f'aicc_controller_step_seconds_bucket{{le="+Inf", {SCHEDULE}}}': "0+6x30",
    }
    failing = {f"aicc_controller_pass_failures_total{{{AICC}}}": "0x5 0+1x20"}
    waits = {
        f'aicc_job_wait_seconds_bucket{{le="600", {AICC}}}': "0x120",
        f'aicc_job_wait_seconds_bucket{{le="3600", {AICC}}}': "0x120",
        f'aicc_job_wait_seconds_bucket{{le="7200", {AICC}}}': "0+2x120",
        f'aicc_job_wait_seconds_bucket{{le="+Inf", {AICC}}}': "0+2x120",
    }
    doc = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            _case(stalled, "AICCSchedulerStalled", "12m", "17m"),
            _case(slow, "AICCSchedulerCycleSlow", "8m", "15m"),
            _case(failing, "AICCControlPassesFailing", "6m", "15m", **{"{{ $value }}": "9"}),
            _case(waits, "AICCJobsWaitLong", "20m", "100m"),
            *_operations_cases(),
            *_gateway_cases(),
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    done = subprocess.run(
        [PROMTOOL, "test", "rules", str(tmp_path / "tests.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0 and "15 rules found" in checked.stdout, checked.stdout


def _operations_cases() -> list[Any]:
    """A node down from minute 5 (firing once down 5 minutes), two quarantined from minute 5
    (after 1 minute), and notification deliveries failing one a minute from minute 6."""
    down = {f'aicc_nodes{{state="down", {AICC}}}': "0x5 1x20"}
    quarantined = {f'aicc_nodes{{state="quarantined", {AICC}}}': "0x5 2x20"}
    failed = {
        f'aicc_notifications_total{{outcome="failed", channel_kind="webhook", {AICC}}}': (
            "0x5 0+1x20"
        )
    }
    return [
        _case(down, "AICCNodeDown", "8m", "11m", **{"{{ $value }}": "1"}),
        _case(quarantined, "AICCNodeQuarantined", "5m", "7m", **{"{{ $value }}": "2"}),
        _case(failed, "AICCNotificationsFailing", "5m", "15m", **{"{{ $value }}": "9"}),
    ]


def _gateway_cases() -> list[Any]:
    """Tier 1's requests of a deployment taking 1 to 5 s (p95 ~4.8 s) against its objective of
    2 s from the start (firing once held 10 minutes); requests held through cold starts of one
    to five minutes, one a minute."""
    where = f'project="prj_a", deployment="chat", {AICC}'
    tier = {
        f'aicc_gateway_tier_request_seconds_bucket{{le="1", tier="1", {where}}}': "0x30",
        f'aicc_gateway_tier_request_seconds_bucket{{le="5", tier="1", {where}}}': "0+10x30",
        f'aicc_gateway_tier_request_seconds_bucket{{le="+Inf", tier="1", {where}}}': "0+10x30",
        f'aicc_gateway_tier_objective_seconds{{tier="1", {AICC}}}': "2x30",
    }
    cold = {
        f'aicc_gateway_cold_start_seconds_bucket{{le="60", {where}}}': "0x120",
        f'aicc_gateway_cold_start_seconds_bucket{{le="300", {where}}}': "0+1x120",
        f'aicc_gateway_cold_start_seconds_bucket{{le="+Inf", {where}}}': "0+1x120",
    }
    labels = {"project": "prj_a", "deployment": "chat"}
    cases = []
    for series, name, quiet, firing, extra in (
        (tier, "AICCGatewayTierObjectiveMissed", "5m", "25m", {"tier": "1"}),
        (cold, "AICCGatewayColdStartSlow", "10m", "90m", {}),
    ):
        case = _case(series, name, quiet, firing)
        (alert,) = case["alert_rule_test"][1]["exp_alerts"]
        alert["exp_labels"].update({**labels, **extra})
        summary = alert["exp_annotations"]["summary"]
        for key, value in {**labels, **extra}.items():
            summary = summary.replace("{{ $labels." + key + " }}", value)
        alert["exp_annotations"]["summary"] = summary
        cases.append(case)
    return cases
