"""Issue 20 end to end, as a tenant would: train the tiny chat model of the LoRA template,
deploy it, call it with the official `openai` client (streaming and not) and find its tokens
on the invoice once; roll it to a new revision under a steady stream of requests with none
failing; kill a replica mid-load with none failing; let it scale to zero and answer the first
request that comes back."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from aicc.core import periods
from aicc.services.billing import meter
from aicc.services.common import utcnow
from aicc.services.serving import metering as request_metering
from aicc.services.telemetry.samples import Measured
from aicc.testing.deployments import kill_replica
from aicc.testing.jobs import wait_state
from aicc.testing.polling import wait
from aicc.testing.servers import over_http

pytestmark = pytest.mark.slow

FAST = {  # the control loop and the autoscaler in seconds, not minutes
    "probe_interval_s": 0.5,
    "drain_s": 1.0,
    "stable_window_s": 6,
    "panic_window_s": 2,
    "scale_down_delay_s": 0,
    "scale_to_zero_after_s": 3,
}
QUESTION = [{"role": "user", "content": "什么是算力券？"}]


def test_train_deploy_call_bill_roll_kill_and_scale_to_zero(tmp_path: Path) -> None:
    with over_http(tmp_path / "home", deployments=FAST, limits={"grace_s": 1.0}) as (
        url,
        token,
        state,
    ):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        plan = {
            "name": "tokens",
            "effective_from": "2026-01-01T00:00:00+08:00",
            "input_mtok": "1000",
            "output_mtok": "2000",
        }
        assert api.post("/api/v1/price-plans", json=plan).status_code == 201

        # The tiny chat model of the LoRA template, trained through AICC and registered.
        run = api.post("/api/v1/templates/lora-finetune/runs", json={"model": "assistant-lm"})
        assert run.status_code == 201, run.text
        done = wait_state(api, run.json()["id"], {"succeeded", "failed"}, timeout=300)
        assert done["state"] == "succeeded", api.get(f"/api/v1/jobs/{done['id']}/logs").text
        wait(
            "the model's version",
            lambda: api.get("/api/v1/models/assistant-lm").json().get("versions") or None,
            timeout=60,
        )

        # Deployed, and called with the official client through a key.
        body = {"name": "assistant", "model": "assistant-lm", "max_replicas": 2}
        assert api.post("/api/v1/deployments", json=body).status_code == 201
        ready(api, 1)
        key = api.post("/api/v1/keys", json={"name": "app"}).json()["secret"]
        client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
        answer = client.chat.completions.create(model="assistant", messages=QUESTION, temperature=0)
        assert answer.choices[0].message.content
        usage = answer.usage
        assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
        streamed = list(
            client.chat.completions.create(
                model="assistant",
                messages=QUESTION,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        assert text == answer.choices[0].message.content  # greedy: the same words
        last = streamed[-1].usage
        assert last is not None and last.completion_tokens == usage.completion_tokens

        # On the invoice once: both answers' tokens, however often the meter runs.
        zone = state.settings.site.timezone
        for _ in range(2):
            with state.db.session() as session:
                books = meter.Meter(
                    session, zone=zone, power=meter.PowerModel(), samples=Measured(session)
                )
                request_metering.meter(session, books, utcnow() + timedelta(hours=2))
        month = periods.month_of(utcnow(), zone)
        lines = api.get("/api/v1/bills", params={"month": month}).json()["lines"]
        billed = {ln["item"]: ln["quantity"] for ln in lines if ln.get("deployment_id")}
        tokens_in = 2 * usage.prompt_tokens / 1e6
        tokens_out = 2 * usage.completion_tokens / 1e6
        assert float(billed["tokens:input"]) == pytest.approx(tokens_in)
        assert float(billed["tokens:output"]) == pytest.approx(tokens_out)

        # A rolling update under a steady stream of requests: none fails.
        with Load(client) as load:
            changed = api.patch("/api/v1/deployments/assistant", json={"env": {"GREETING": "2"}})
            assert changed.status_code == 200 and changed.json()["revision"] == 2
            ready(api, 1, revision=2)
        assert load.answered >= 5 and load.failed == [], load.failed

        # A replica killed mid-load: none fails (retried on the other, or held for its
        # replacement).
        assert (
            api.post("/api/v1/deployments/assistant/scale", json={"min_replicas": 2}).status_code
            == 200
        )
        shown = ready(api, 2, revision=2)
        with Load(client, threads=4) as load:
            wait("some answers", lambda: load.answered >= 4 or None, timeout=60)
            kill_replica(state.settings.home, shown["replicas"][0]["job_id"])
            time.sleep(3)
        assert load.failed == [], load.failed

        # Idle with no minimum: zero replicas; the first request back is held and answered.
        assert (
            api.post("/api/v1/deployments/assistant/scale", json={"min_replicas": 0}).status_code
            == 200
        )
        wait(
            "scale to zero",
            lambda: api.get("/api/v1/deployments/assistant").json()["replicas"] == [] or None,
            timeout=90,
        )
        started = time.monotonic()
        back = client.chat.completions.create(model="assistant", messages=QUESTION, temperature=0)
        assert back.choices[0].message.content == answer.choices[0].message.content
        cold = time.monotonic() - started
        assert api.get("/api/v1/deployments/assistant").json()["desired"] >= 1
        print(f"cold start answered in {cold:.1f} s")


def ready(api: httpx.Client, count: int, revision: int = 1) -> dict[str, Any]:
    """The deployment once `count` replicas of `revision` are ready and no other serves."""

    def check() -> dict[str, Any] | None:
        shown = api.get("/api/v1/deployments/assistant").json()
        serving = [r for r in shown["replicas"] if r["ready"]]
        good = [r for r in serving if r["revision"] == revision]
        return shown if len(good) >= count and len(good) == len(serving) else None

    return wait(f"{count} ready replicas of revision {revision}", check, timeout=120)


class Load:
    """Requests sent back to back from `threads` threads while the block runs."""

    def __init__(self, client: openai.OpenAI, threads: int = 2) -> None:
        self.client, self.threads = client, threads
        self.answered = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(threads)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.client.chat.completions.create(
                    model="assistant", messages=QUESTION, temperature=0
                )
                self.answered += 1
            except openai.OpenAIError as err:
                self.failed.append(repr(err))

    def __enter__(self) -> Load:
        for _ in range(self.threads):
            self._pool.submit(self._loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)
