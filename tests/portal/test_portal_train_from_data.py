"""Train from a data set's page (issue 58): its version's button opens the training wizard with
that version chosen, at step 2 (the templates that fit it), in the reader's language."""

from __future__ import annotations

import html
import re
from pathlib import Path

from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, signed_in

from aicc.testing import templates
from aicc.testing.datasets import push


def test_a_data_set_version_opens_the_wizard_with_it_chosen(
    api: TestClient, alice: Person, tmp_path: Path
) -> None:
    root = templates.example("credit-risk", tmp_path / "loans")
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    push(api, "loans", files, alice.headers)
    push(api, "loans", {**files, "extra.txt": b"second version\n"}, alice.headers)
    page = signed_in(api, alice)
    text = page.get(f"/data/loans?project={alice.project_id}&version=1").text
    assert "Train a model on loans@1" in text
    found = re.search(r'<a class="btn btn-primary" href="(/marketplace/train\?data=[^"]+)"', text)
    assert found, text
    link = html.unescape(found.group(1))
    assert link.endswith("%2Floans%401")  # the version shown, not the latest
    step2 = page.get(link)
    assert step2.status_code == 200, step2.text
    assert "template=credit-risk" in step2.text and "loans@1" in step2.text
    page.post("/language", data={"csrf": csrf_of(page), "language": "zh-CN"})
    chinese = page.get(f"/data/loans?project={alice.project_id}").text
    assert "用 loans@2 训练模型" in chinese and "训练模型</a>" in chinese
