"""A cleaning job end to end (数据清洗): a tenant pushes raw text with duplicates and personal
data, asks for it to be cleaned, the job runs on the scheduler in the sandbox with the raw set
mounted, and its outputs become the next version of another set, with lineage to the input and
the job, and the counts of what was removed and masked."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aicc.sdk.client import Client
from aicc.testing.jobs import wait_state
from aicc.testing.servers import over_http

RAW = [
    {"text": "我的身份证号是11010519491231002X，请勿外传。"},
    {"text": "联系电话 +86 138-1234-5678，邮箱 zhang.san@example.com"},
    {"text": "银行卡 6222 0202 0000 0000 006 已绑定"},  # Luhn-valid 19 digits
    {"text": "A plain sentence that appears twice in the corpus."},
    {"text": "A plain sentence that appears twice in the corpus."},
    {"text": "身份证 110105194912310021 的校验位不对，保持原样"},
]


@pytest.fixture
def served(db_url: str | None, tmp_path: Path) -> Iterator[Client]:
    with (
        over_http(tmp_path / "home", db_url) as (url, token, _state),
        Client(url, token, timeout=60) as api,
    ):
        yield api


def test_a_cleaning_job_makes_a_version_with_lineage_and_masked_pii(
    served: Client, tmp_path: Path
) -> None:
    api = served
    src = tmp_path / "raw"
    src.mkdir()
    (src / "chat.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RAW), encoding="utf-8"
    )
    (src / "README.md").write_text("raw chat logs\n")
    assert api.datasets.push("raw-chat", src).version.ref == "raw-chat@1"

    job = api.datasets.clean("raw-chat@1", "clean-chat", steps="dedup,pii")
    assert job.spec["datasets"][0].endswith("raw-chat@1")  # pinned to the version
    wait_state(api._http, job.id, {"succeeded"}, timeout=180)

    deadline = time.monotonic() + 60
    while (made := api.datasets.get("clean-chat")).latest is None:
        assert time.monotonic() < deadline, "the job's outputs never became a version"
        time.sleep(0.3)
    version = made.versions[0]
    assert version.ref == "clean-chat@1"
    lineage = version.lineage
    assert lineage["job_id"] == job.id
    assert lineage["datasets"][0].endswith("/raw-chat@1")
    report = lineage["report"]
    assert report["records_in"] == 6 and report["records_out"] == 5
    assert report["masked"]["id"] == 1 and report["masked"]["phone"] == 1
    assert report["masked"]["email"] == 1 and report["masked"]["card"] == 1

    files = {f.path for f in api.datasets.manifest("clean-chat").files}
    assert files == {"chat.jsonl", "README.md"}  # the report is lineage, not a file
    rows = api.datasets.preview("clean-chat", path="chat.jsonl").rows
    texts = [r[0] for r in rows]
    assert "[ID]" in texts[0] and "11010519491231002X" not in texts[0]
    assert "[PHONE]" in texts[1] and "[EMAIL]" in texts[1]
    assert "[CARD]" in texts[2]
    assert texts.count("A plain sentence that appears twice in the corpus.") == 1
    assert "110105194912310021" in texts[-1]  # a wrong check digit is not an ID
