"""Issue 60 item 4 end to end, with the stock `openai` client only (and the native API for the
one step OpenAI has no call for: a deployment): a chat file fine-tunes the LoRA template's tiny
model, its events and checkpoint are listed, the fine-tuned model is deployed, and a batch of
chat requests against it answers what the same requests answer one by one."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest

from aicc.testing.polling import wait
from aicc.testing.servers import over_http

pytestmark = pytest.mark.slow

FAST = {"probe_interval_s": 0.5, "drain_s": 1.0}
FACTS = [
    (f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}.") for a in range(6) for b in range(5)
]


def chat_file() -> bytes:
    chats = [
        {
            "messages": [
                {"role": "system", "content": "You are a patient maths tutor."},
                {"role": "user", "content": q},
                {"role": "assistant", "content": a},
            ]
        }
        for q, a in FACTS
    ]
    return "".join(json.dumps(c) + "\n" for c in chats).encode()


def test_fine_tune_deploy_and_batch_with_the_openai_client(tmp_path: Path) -> None:
    settings = {"deployments": FAST, "limits": {"grace_s": 1.0}, "gateway": {"batch_poll_s": 0.2}}
    with over_http(tmp_path / "home", **settings) as (url, token, _):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        key = api.post("/api/v1/keys", json={"name": "tutor"}).json()["secret"]
        client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)

        training = client.files.create(file=("maths.jsonl", chat_file()), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(
            model="tiny",
            training_file=training.id,
            hyperparameters={"n_epochs": 3},
            suffix="maths",
            seed=7,
        )
        assert job.status in ("queued", "running") and job.fine_tuned_model is None
        assert job.hyperparameters.n_epochs == 3

        def trained() -> openai.types.fine_tuning.FineTuningJob | None:
            found = client.fine_tuning.jobs.retrieve(job.id)
            assert found.status not in ("failed", "cancelled"), found.error
            return found if found.status == "succeeded" else None

        done = wait("the fine-tune", trained, timeout=300)
        assert done.fine_tuned_model and done.fine_tuned_model.startswith("ft-tiny-maths-")
        assert done.finished_at is not None
        assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]
        events = list(client.fine_tuning.jobs.list_events(job.id))
        metrics = [e for e in events if e.type == "metrics"]
        assert len(metrics) == 3 and all("eval_loss" in (e.data or {}) for e in metrics)
        assert "successfully completed" in events[0].message  # newest first
        checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
        assert len(checkpoints) == 1
        assert checkpoints[0].fine_tuned_model_checkpoint.endswith(f"{done.fine_tuned_model}@1")
        assert checkpoints[0].metrics.valid_loss is not None and checkpoints[0].step_number == 3

        # The caller deploys it (the native API), then asks it in a batch and one by one.
        body = {"name": "tutor", "model": done.fine_tuned_model}
        made = api.post("/api/v1/deployments", json=body)
        assert made.status_code == 201, made.text
        wait(
            "a ready replica",
            lambda: (
                any(r["ready"] for r in api.get("/api/v1/deployments/tutor").json()["replicas"])
                or None
            ),
            timeout=120,
        )
        questions = [q for q, _ in FACTS[:4]]
        requests = [
            {
                "custom_id": f"q{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": "tutor",
                    "messages": [{"role": "user", "content": q}],
                    "temperature": 0,
                },
            }
            for i, q in enumerate(questions)
        ]
        source = client.files.create(
            file=("ask.jsonl", "".join(json.dumps(r) + "\n" for r in requests).encode()),
            purpose="batch",
        )
        batch = client.batches.create(
            input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        finished = wait(
            "the batch",
            lambda: (
                (
                    (b := client.batches.retrieve(batch.id)).status
                    in ("completed", "failed", "cancelled", "expired")
                    and b
                )
                or None
            ),
            timeout=120,
        )
        assert finished.status == "completed" and finished.request_counts is not None
        assert finished.request_counts.completed == 4 and finished.error_file_id is None
        assert finished.output_file_id is not None
        out = client.files.content(finished.output_file_id).text.splitlines()
        batched = {
            (r := json.loads(line))["custom_id"]: r["response"]["body"]["choices"][0]["message"][
                "content"
            ]
            for line in out
        }
        for i, question in enumerate(questions):
            one = client.chat.completions.create(
                model="tutor", messages=[{"role": "user", "content": question}], temperature=0
            )
            assert batched[f"q{i}"] == one.choices[0].message.content  # greedy: the same words
