"""A tiny causal LM (built from a config, tokenizer learned locally) served by the real program
and driven by the official `openai` client: chat and completions, streamed and not, embeddings,
usage counted with the model's tokenizer, and OpenAI-shaped 400s for what it refuses."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from aicc.testing import serving

NAME = "tiny-chat"
MESSAGES = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "What does the cat do?"},
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return serving.tiny_lm(tmp_path_factory.mktemp("tiny") / "model", context=2048)


@pytest.fixture(scope="module")
def served(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[serving.Served]:
    with serving.serve(model_dir, tmp_path_factory.mktemp("replica"), name=NAME) as replica:
        yield replica


@pytest.fixture(scope="module")
def client(served: serving.Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.openai_base, api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> tuple[Any, Any]:
    """The same model loaded by transformers itself, to say what the server must answer."""
    return (
        AutoModelForCausalLM.from_pretrained(model_dir).eval(),
        AutoTokenizer.from_pretrained(model_dir),
    )


def greedy(reference: tuple[Any, Any], ids: list[int], max_new: int) -> tuple[str, int]:
    """transformers' own greedy generation: the text and how many tokens it generated."""
    model, tokenizer = reference
    with torch.no_grad():
        out = model.generate(
            torch.tensor([ids]),
            max_new_tokens=max_new,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[0, len(ids) :].tolist()
    return tokenizer.decode(new, skip_special_tokens=True), len(new)


def chat_ids(reference: tuple[Any, Any]) -> list[int]:
    text = reference[1].apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    return list(reference[1](text, add_special_tokens=False).input_ids)


def test_chat_answers_as_the_model_does_with_the_tokenizers_counts(
    client: openai.OpenAI, reference: tuple[Any, Any]
) -> None:
    ids = chat_ids(reference)
    assert "<|im_start|>assistant" in reference[1].decode(ids)
    expected, generated = greedy(reference, ids, 12)

    done = client.chat.completions.create(
        model=NAME,
        messages=MESSAGES,
        temperature=0,
        max_tokens=12,  # type: ignore[arg-type]
    )
    assert done.model == NAME and done.object == "chat.completion"
    assert done.choices[0].message.role == "assistant"
    assert done.choices[0].message.content == expected
    assert done.choices[0].finish_reason == ("length" if generated == 12 else "stop")
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (len(ids), generated)
    assert done.usage.total_tokens == len(ids) + generated


def test_chat_streams_the_same_answer_and_its_usage(
    client: openai.OpenAI, reference: tuple[Any, Any]
) -> None:
    ids = chat_ids(reference)
    expected, generated = greedy(reference, ids, 12)
    chunks = list(
        client.chat.completions.create(
            model=NAME,
            messages=MESSAGES,  # type: ignore[arg-type]
            temperature=0,
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    texts = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([t for t in texts if t]) > 1  # token by token, not one piece
    assert "".join(texts) == expected
    assert chunks[0].choices[0].delta.role == "assistant"
    finished = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finished[-1] in ("length", "stop") and not any(finished[:-1])
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (len(ids), generated)


def test_completions_streamed_and_not(client: openai.OpenAI, reference: tuple[Any, Any]) -> None:
    prompt = "the cat sat on"
    ids = list(reference[1](prompt).input_ids)
    expected, generated = greedy(reference, ids, 6)

    done = client.completions.create(model=NAME, prompt=prompt, max_tokens=6, temperature=0)
    assert done.object == "text_completion"
    assert done.choices[0].text == expected
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (len(ids), generated)

    chunks = list(
        client.completions.create(
            model=NAME,
            prompt=prompt,
            max_tokens=6,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == expected
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == generated


def test_a_stop_string_ends_the_text_before_it(
    client: openai.OpenAI, reference: tuple[Any, Any]
) -> None:
    ids = chat_ids(reference)
    whole, _ = greedy(reference, ids, 40)
    stop = whole[len(whole) // 2 : len(whole) // 2 + 3]
    assert len(stop) == 3
    cut = whole[: whole.index(stop)]

    done = client.chat.completions.create(
        model=NAME,
        messages=MESSAGES,  # type: ignore[arg-type]
        temperature=0,
        max_tokens=40,
        stop=[stop],
    )
    assert done.choices[0].message.content == cut
    assert done.choices[0].finish_reason == "stop"
    streamed = client.chat.completions.create(
        model=NAME,
        messages=MESSAGES,  # type: ignore[arg-type]
        temperature=0,
        max_tokens=40,
        stop=stop,
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == cut


def test_sampling_with_a_seed_repeats(client: openai.OpenAI) -> None:
    def sample(seed: int) -> str:
        done = client.completions.create(
            model=NAME, prompt="a model", max_tokens=16, temperature=1.5, top_p=0.9, seed=seed
        )
        return done.choices[0].text

    assert sample(7) == sample(7)
    assert len({sample(s) for s in range(4)}) > 1


def test_embeddings_are_mean_pooled_unit_vectors(
    client: openai.OpenAI, reference: tuple[Any, Any]
) -> None:
    model, tokenizer = reference
    texts = ["the cat sat on the mat", "gradient descent"]
    done = client.embeddings.create(model=NAME, input=texts)  # base64 on the wire
    assert [d.index for d in done.data] == [0, 1]
    counts = [len(tokenizer(t).input_ids) for t in texts]
    assert done.usage.prompt_tokens == done.usage.total_tokens == sum(counts)
    for text, item in zip(texts, done.data, strict=True):
        with torch.no_grad():
            hidden = model.model(torch.tensor([tokenizer(text).input_ids])).last_hidden_state
        expected = torch.nn.functional.normalize(hidden[0].mean(0), dim=0)
        got = torch.tensor(item.embedding)
        assert got.shape == expected.shape and abs(float(got.norm()) - 1) < 1e-5
        assert torch.allclose(got, expected, atol=1e-5)
    plain = client.embeddings.create(model=NAME, input="gradient descent", encoding_format="float")
    assert plain.data[0].embedding == pytest.approx(done.data[1].embedding, abs=1e-6)


def test_the_model_list_names_the_one_model(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [NAME]


def test_what_it_refuses_is_an_openai_400_naming_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=NAME, messages=MESSAGES, n=2)  # type: ignore[arg-type]
    assert refused.value.status_code == 400
    assert refused.value.param == "n" and "n must be 1" in refused.value.message

    with pytest.raises(openai.BadRequestError) as unknown:
        client.completions.create(model="gpt-4", prompt="hi")
    assert unknown.value.code == "model_not_found" and unknown.value.param == "model"

    with pytest.raises(openai.BadRequestError) as hot:
        client.completions.create(model=NAME, prompt="hi", temperature=3)
    assert hot.value.param == "temperature"

    with pytest.raises(openai.BadRequestError) as long:
        client.completions.create(model=NAME, prompt="hi", max_tokens=5000)
    assert long.value.param == "max_tokens" and "2048" in long.value.message


def test_bad_bodies_are_400s_not_500s(served: serving.Served) -> None:
    url = served.url + "/v1/chat/completions"
    for body in (
        b"not json",
        b"[]",
        json.dumps({"model": NAME}).encode(),
        json.dumps({"model": NAME, "messages": [{"role": "wizard", "content": "hi"}]}).encode(),
        json.dumps({"model": NAME, "messages": [{"role": "user", "content": 3}]}).encode(),
        json.dumps({"model": NAME, "messages": MESSAGES, "stop": 5}).encode(),
        json.dumps({"model": NAME, "messages": MESSAGES, "max_tokens": "many"}).encode(),
    ):
        answer = httpx.post(url, content=body)
        assert answer.status_code == 400, (body, answer.text)
        assert set(answer.json()["error"]) == {"message", "type", "param", "code"}
    missing = httpx.post(served.url + "/predict", json={"rows": [{"x": 1}]})
    assert missing.status_code == 404 and "/v1/chat/completions" in missing.text


def metric(served: serving.Served, name: str) -> int:
    for line in httpx.get(served.url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError(f"no {name}")


def test_a_client_that_leaves_mid_stream_stops_the_generation(served: serving.Served) -> None:
    before = metric(served, "aicc_serving_generation_tokens_total")
    body = {
        "model": NAME,
        "prompt": "the server streams",
        "max_tokens": 2000,
        "ignore_eos": True,
        "stream": True,
    }
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", served.url + "/v1/completions", json=body) as answer,
    ):
        chunks = 0
        for line in answer.iter_lines():
            chunks += line.startswith("data: ")
            if chunks == 3:
                break  # and leave
    deadline = time.monotonic() + 20
    while metric(served, "aicc_serving_requests_running") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric(served, "aicc_serving_requests_running") == 0
    spent = metric(served, "aicc_serving_generation_tokens_total") - before
    assert 3 <= spent < 500
    time.sleep(0.5)
    assert metric(served, "aicc_serving_generation_tokens_total") - before == spent


def test_a_model_that_cannot_load_stops_the_program(model_dir: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/gone"}))
    replica = serving.start(adapter, tmp_path / "replica")
    assert replica.process.wait(timeout=60) == 1
    assert "base model /gone is not here" in replica.log()


def test_requests_wait_their_turn_and_metrics_show_the_queue(served: serving.Served) -> None:
    """One generation at a time per replica: a second request waits (the gauge the autoscaler
    reads says so) and is answered once the first ends."""
    long = {"model": NAME, "prompt": "the", "max_tokens": 600, "ignore_eos": True, "stream": True}
    short = {"model": NAME, "prompt": "the cat", "max_tokens": 5, "temperature": 0}
    answers: list[httpx.Response] = []
    with (
        httpx.Client(timeout=120) as http,
        http.stream("POST", served.url + "/v1/completions", json=long) as first,
    ):
        lines = first.iter_lines()
        assert next(lines).startswith("data: ")
        second = threading.Thread(
            target=lambda: answers.append(http.post(served.url + "/v1/completions", json=short))
        )
        second.start()
        deadline = time.monotonic() + 20
        while metric(served, "aicc_serving_requests_waiting") == 0:
            assert time.monotonic() < deadline and not answers
            time.sleep(0.01)
        assert metric(served, "aicc_serving_requests_running") == 1
        rest = [line for line in lines if line.startswith("data: ")]
        assert rest[-1] == "data: [DONE]"
        second.join(timeout=30)
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["usage"]["completion_tokens"] == 5
    assert metric(served, "aicc_serving_requests_waiting") == 0
