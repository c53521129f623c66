"""Template-trained model versions served as a deployment serves them (`--engine auto`): the
lora-finetune model as a chat model answering as its predict.py does, and a credit-risk model
behind `/predict` answering what its predict.py writes for the same rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from aicc.executors import sandbox
from aicc.testing import serving, templates


@pytest.fixture(scope="module")
def lora(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[serving.Served, Path]]:
    work = tmp_path_factory.mktemp("lora")
    trained = templates.train_example("lora-finetune", work, {"epochs": 2})
    version = serving.model_version("lora-finetune", trained.model, work / "version")
    with serving.serve(version, work / "replica", name="course-qa") as replica:
        yield replica, trained.output.parent.parent / "example" / "qa.jsonl"


@pytest.fixture(scope="module")
def credit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[serving.Served, Path]]:
    work = tmp_path_factory.mktemp("credit")
    trained = templates.train_example("credit-risk", work)
    version = serving.model_version("credit-risk", trained.model, work / "version")
    with serving.serve(version, work / "replica", name="loans") as replica:
        yield replica, version


def test_a_lora_model_answers_chat_as_its_predict_script_does(
    lora: tuple[serving.Served, Path], tmp_path: Path
) -> None:
    served, example = lora
    questions = [json.loads(line)["question"] for line in example.open(encoding="utf-8")][:3]
    asked = tmp_path / "questions.jsonl"
    asked.write_text("".join(json.dumps({"question": q}) + "\n" for q in questions))
    written = templates.predict(
        "lora-finetune", served_model(served) / "model", asked, tmp_path / "answers.jsonl"
    )
    expected = [json.loads(line)["answer"] for line in written.read_text("utf-8").splitlines()]

    client = openai.OpenAI(base_url=served.openai_base, api_key="unused", max_retries=0)
    answers = []
    for question in questions:
        done = client.chat.completions.create(
            model="course-qa",
            messages=[{"role": "user", "content": question}],
            temperature=0,
            max_tokens=64,  # predict.py's MAX_NEW_TOKENS
        )
        answers.append((done.choices[0].message.content or "").strip())
        assert done.usage is not None and done.usage.completion_tokens > 0
    assert answers == expected
    assert any(answers)


def served_model(served: serving.Served) -> Path:
    """The version directory a replica serves (its --model)."""
    args = list(served.process.args)  # type: ignore[arg-type]
    return Path(args[args.index("--model") + 1])


def rows_of(version: Path, n: int) -> list[dict[str, Any]]:
    """The example's first rows without the outcome, as a client would send them."""
    import pyarrow.csv as pc

    example = version.parent / "example" / "loan_applications.csv"
    rows = pc.read_csv(example).slice(0, n).to_pylist()
    return [{k: v for k, v in row.items() if k != "default"} for row in rows]


def test_a_credit_model_predicts_what_its_script_writes(
    credit: tuple[serving.Served, Path], tmp_path: Path
) -> None:
    served, version = credit
    rows = rows_of(version, 25)
    given = tmp_path / "rows.jsonl"
    given.write_text("".join(json.dumps(r) + "\n" for r in rows))
    written = templates.predict("credit-risk", version / "model", given, tmp_path / "scored.jsonl")
    expected = [json.loads(line) for line in written.read_text().splitlines()]

    answer = httpx.post(served.url + "/predict", json={"rows": rows}, timeout=60)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert predictions == expected
    assert all(0 <= p["default_probability"] <= 1 for p in predictions)
    models = httpx.get(served.url + "/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["loans"]


def test_bad_rows_are_a_400_saying_what_is_wrong(credit: tuple[serving.Served, Path]) -> None:
    served, version = credit
    row = rows_of(version, 1)[0]

    def refused(body: Any) -> dict[str, Any]:
        answer = httpx.post(served.url + "/predict", json=body, timeout=60)
        assert answer.status_code == 400, answer.text
        error: dict[str, Any] = answer.json()["error"]
        return error

    assert refused({"rows": [row] * 1001})["message"].startswith("at most 1000 rows")
    assert refused({"rows": []})["param"] == "rows"
    assert refused({"rows": [{**row, "age": [1, 2]}]})["param"] == "rows[0].age"
    missing = refused({"rows": [{k: v for k, v in row.items() if k != "debt_ratio"}]})
    assert "debt_ratio" in missing["message"]
    chat = httpx.post(served.url + "/v1/chat/completions", json={"model": "loans"})
    assert chat.status_code == 404 and "/predict" in chat.json()["error"]["message"]


def test_it_serves_from_inside_a_jobs_sandbox(
    credit: tuple[serving.Served, Path], tmp_path: Path
) -> None:
    """As a replica runs: bubblewrap, the package its only code, the model read-only."""
    box = sandbox.detect("auto")
    if box is None:
        pytest.skip("bubblewrap cannot run here")
    _, version = credit
    code = tmp_path / "code"
    wrap = box.argv(writable=[code], cwd=code, home=str(tmp_path / "home"), read_only=[version])
    replica = serving.start(version, tmp_path, name="boxed", wrap=wrap)
    try:
        serving.wait_ready(replica, timeout=60)
        rows = rows_of(version, 2)
        answer = httpx.post(replica.url + "/predict", json={"rows": rows}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 2
    finally:
        serving.stop(replica)
    assert "Finished server process" in replica.log()  # a graceful stop on SIGTERM
