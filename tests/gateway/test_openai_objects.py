"""OpenAI's files, batches and fine-tuning jobs under `/v1`, driven by the official `openai`
client against a real server (uvicorn) and a real replica job (`aicc/testing/upstream.py`):
a batch's lines answered into its output and error files, counted, audited and billed at the
plan's batch price; another tenant's objects a 404; what this center does not support refused
in OpenAI's error shape, never a 500. (The fine-tune's training and the batch against the
trained model: tests/e2e/test_openai_objects_e2e.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import openai
import pytest

from aicc.core import periods
from aicc.server import ServerState
from aicc.services.billing import meter
from aicc.services.common import utcnow
from aicc.services.serving import metering as request_metering
from aicc.services.telemetry.samples import Measured
from aicc.testing.deployments import deploy
from aicc.testing.polling import wait
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

PLAN = {
    "name": "tokens",
    "effective_from": "2026-01-01T00:00:00+08:00",
    "input_mtok": "1000",
    "output_mtok": "2000",
    "batch_discount": "0.5",
}


class Center:
    def __init__(self, url: str, token: str, state: ServerState) -> None:
        self.url, self.state = url, state
        self.api = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def key(self, name: str, headers: dict[str, str] | None = None) -> str:
        made = self.api.post("/api/v1/keys", json={"name": name}, headers=headers or {})
        assert made.status_code == 201, made.text
        secret: str = made.json()["secret"]
        return secret

    def openai(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Center]:
    home = tmp_path_factory.mktemp("openai") / "home"
    settings = {
        "limits": {"grace_s": 1.0},
        "gateway": {"batch_poll_s": 0.2, "max_file_bytes": 65536},
    }
    with over_http(home, **settings) as (url, token, state):
        center = Center(url, token, state)
        assert center.api.post("/api/v1/price-plans", json=PLAN).status_code == 201
        deploy(center.api, "chat")
        yield center


def lines(*requests: tuple[str, str, str]) -> bytes:
    """A batch input file: (custom_id, url, model) per line."""
    out = []
    for custom_id, url, model in requests:
        body = {"model": model, "messages": [{"role": "user", "content": f"hi {custom_id}"}]}
        if url == "/v1/embeddings":
            body = {"model": model, "input": f"hi {custom_id}"}
        out.append(json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body}))
    return ("\n".join(out) + "\n").encode()


def finished(client: openai.OpenAI, batch_id: str) -> openai.types.Batch:
    done = {"completed", "failed", "cancelled", "expired"}
    return wait(
        f"batch {batch_id} done",
        lambda: ((b := client.batches.retrieve(batch_id)).status in done and b) or None,
        timeout=60,
    )


def test_a_batch_answers_into_its_output_and_error_files_audited_and_billed(
    center: Center,
) -> None:
    client = center.openai(center.key("batches"))
    chats = [(f"q{i}", "/v1/chat/completions", "chat") for i in range(4)]
    source = client.files.create(
        file=("requests.jsonl", lines(*chats, ("gone", "/v1/chat/completions", "no-such"))),
        purpose="batch",
    )
    assert source.purpose == "batch" and source.bytes > 0
    assert client.files.retrieve(source.id).filename == "requests.jsonl"

    batch = client.batches.create(
        input_file_id=source.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"run": "nightly"},
    )
    assert batch.status == "validating" and batch.metadata == {"run": "nightly"}
    done = finished(client, batch.id)
    assert done.status == "completed", done
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (5, 4)
    assert done.request_counts.failed == 1
    assert done.in_progress_at and done.finalizing_at and done.completed_at

    assert done.output_file_id is not None and done.error_file_id is not None
    answered = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert [a["custom_id"] for a in answered] == ["q0", "q1", "q2", "q3"]
    for answer in answered:
        assert answer["response"]["status_code"] == 200
        assert answer["response"]["body"]["choices"][0]["message"]["content"]
        assert answer["response"]["request_id"].startswith("req_")
    errors = [json.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
    assert [e["custom_id"] for e in errors] == ["gone"]
    assert errors[0]["response"]["status_code"] == 404
    assert errors[0]["response"]["body"]["error"]["code"] == "model_not_found"
    outputs = {f.id: f.purpose for f in client.files.list(purpose="batch_output")}
    assert outputs == {done.output_file_id: "batch_output", done.error_file_id: "batch_output"}
    assert any(b.id == batch.id for b in client.batches.list())

    # Audited under the key's maker, and billed as batch requests at half the token prices.
    actions = {
        e["action"] for e in center.api.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    }
    assert {"openai_file.create", "openai_batch.create", "openai_batch.completed"} <= actions
    zone = center.state.settings.site.timezone
    with center.state.db.session() as session:
        books = meter.Meter(session, zone=zone, power=meter.PowerModel(), samples=Measured(session))
        request_metering.meter(session, books, utcnow() + timedelta(hours=2))
    month = periods.month_of(utcnow(), zone)
    bill = center.api.get("/api/v1/bills", params={"month": month}).json()["lines"]
    items = {line["item"]: line for line in bill if line.get("deployment_id")}
    assert "batch:requests" not in items and "tokens:input" not in items, items  # unpriced
    assert float(items["batch:tokens:input"]["unit_price"]) == 500
    assert float(items["batch:tokens:output"]["unit_price"]) == 1000


def test_a_bad_input_file_fails_the_batch_naming_the_line(center: Center) -> None:
    client = center.openai(center.key("bad-input"))
    good = lines(("a", "/v1/chat/completions", "chat"))
    source = client.files.create(file=("bad.jsonl", good + b"not json\n"), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = finished(client, batch.id)
    assert done.status == "failed" and done.errors is not None and done.errors.data
    assert done.errors.data[0].line == 2 and "JSON" in (done.errors.data[0].message or "")
    wrong_url = client.files.create(
        file=("mixed.jsonl", lines(("e", "/v1/embeddings", "chat"))), purpose="batch"
    )
    batch = client.batches.create(
        input_file_id=wrong_url.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert finished(client, batch.id).status == "failed"


def test_another_tenants_files_batches_and_fine_tunes_are_404(center: Center) -> None:
    mine = center.openai(center.key("mine"))
    source = mine.files.create(
        file=("r.jsonl", lines(("x", "/v1/chat/completions", "chat"))), purpose="batch"
    )
    batch = mine.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    chats = mine.files.create(file=("few.jsonl", b'{"messages": []}\n'), purpose="fine-tune")
    tune = mine.fine_tuning.jobs.create(model="tiny", training_file=chats.id)
    other = make_tenant(center.api, "openai-other")
    theirs = center.openai(center.key("theirs", other.headers))
    for call in (
        lambda: theirs.files.retrieve(source.id),
        lambda: theirs.files.content(source.id),
        lambda: theirs.files.delete(source.id),
        lambda: theirs.batches.retrieve(batch.id),
        lambda: theirs.batches.cancel(batch.id),
        lambda: theirs.fine_tuning.jobs.retrieve(tune.id),
        lambda: theirs.fine_tuning.jobs.cancel(tune.id),
        lambda: theirs.fine_tuning.jobs.list_events(tune.id),
        lambda: theirs.fine_tuning.jobs.checkpoints.list(tune.id),
        lambda: theirs.fine_tuning.jobs.create(model="tiny", training_file=chats.id),
        lambda: theirs.batches.create(
            input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
        ),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        assert caught.value.status_code == 404
        assert isinstance(caught.value.body, dict) and "message" in caught.value.body
    assert [f.id for f in theirs.files.list()] == []
    assert [b.id for b in theirs.batches.list()] == []
    assert [j.id for j in theirs.fine_tuning.jobs.list()] == []
    # A batch of theirs naming this tenant's deployment reaches no replica of it: a 404 line.
    probe = theirs.files.create(
        file=("probe.jsonl", lines(("p", "/v1/chat/completions", "chat"))), purpose="batch"
    )
    aimed = theirs.batches.create(
        input_file_id=probe.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    ended = finished(theirs, aimed.id)
    assert ended.request_counts is not None and ended.request_counts.failed == 1
    assert ended.output_file_id is None and ended.error_file_id is not None
    refused = json.loads(theirs.files.content(ended.error_file_id).text)
    assert refused["response"]["status_code"] == 404
    # Its maker cancels it: its training job ends.
    assert [j.id for j in mine.fine_tuning.jobs.list()] == [tune.id]
    assert mine.fine_tuning.jobs.cancel(tune.id).status == "cancelled"
    assert mine.files.delete(source.id).deleted
    with pytest.raises(openai.NotFoundError):
        mine.files.retrieve(source.id)


def test_what_is_not_supported_is_refused_in_openais_shape(center: Center) -> None:
    client = center.openai(center.key("refusals"))
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("a.jsonl", b"{}\n"), purpose="assistants")
    assert caught.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert "purpose" in caught.value.message
    with pytest.raises(openai.APIStatusError) as too_big:
        client.files.create(file=("big.jsonl", b"x" * 65537), purpose="batch")
    assert too_big.value.status_code == 413 and "65536 byte" in too_big.value.message
    source = client.files.create(
        file=("r.jsonl", lines(("x", "/v1/chat/completions", "chat"))), purpose="batch"
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=source.id,
            endpoint="/v1/responses",  # type: ignore[arg-type]
            completion_window="24h",
        )
    assert "endpoint" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=source.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            output_expires_after={"anchor": "created_at", "seconds": 3600},
        )
    assert caught.value.body["param"] == "output_expires_after"  # type: ignore[index]
    chat = client.files.create(file=("chat.jsonl", b'{"messages": []}\n'), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=chat.id)
    assert caught.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="tiny", training_file=chat.id, validation_file=chat.id)
    assert caught.value.body["param"] == "validation_file"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="tiny", training_file=source.id)
    assert "fine-tune" in caught.value.message  # a batch file is no training file
    with pytest.raises(openai.NotFoundError) as caught:
        client.fine_tuning.jobs.pause("ftjob_01JZZZZZZZZZZZZZZZZZZZZZZZ")
    assert caught.value.body["code"] == "unknown_url"  # type: ignore[index]
    with pytest.raises(openai.AuthenticationError):
        center.openai("aicc-sk-nothing").files.list()
    # A batch not started yet is cancelled at once (no runner holds it): the runner is slowed
    # by a batch against a deployment that does not exist, so this one may be taken first.
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    try:
        cancelled = client.batches.cancel(batch.id)
    except openai.ConflictError as err:  # the runner was quicker: it answered every line
        assert "cannot be cancelled" in err.message
    else:
        assert cancelled.status in ("cancelling", "cancelled")
    assert finished(client, batch.id).status in ("cancelled", "completed")
