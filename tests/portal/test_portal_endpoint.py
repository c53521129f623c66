"""A deployment's endpoint page (issue 58): snippets to call its model API (curl, Python, the
CLI) in both languages, whose address, model and key variable the official `openai` client
takes as they are and gets the replica's answer through the gateway; another tenant gets the
404 page."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from openai import OpenAI
from portal_support import Person, csrf_of, signed_in

from aicc.testing.deployments import deploy


def _snippet(page: str, kind: str) -> str:
    found = re.search(
        rf'<pre tabindex="0" id="snippet-{kind}"><code>(.*?)</code></pre>', page, re.S
    )
    assert found, page
    return html.unescape(found.group(1))


def test_the_endpoint_page_gives_snippets_that_call_the_model(
    api: TestClient, alice: Person, bob: Person
) -> None:
    deploy(api, "snippets", headers=alice.headers, project=alice.project_id)
    page = signed_in(api, alice)
    link = f"/deployments/snippets/api?project={alice.project_id}"
    assert f'href="{link.replace("&", "&amp;")}"' in page.get(link.replace("/api", "")).text
    answer = page.get(link)
    assert answer.status_code == 200, answer.text
    text = answer.text
    assert "Calling snippets" in text and "http://testserver/v1" in text
    assert text.count('data-copy="snippet-') == 3 and "Copy" in text
    curl = _snippet(text, "curl")
    assert curl.startswith("curl http://testserver/v1/chat/completions")
    assert '-H "Authorization: Bearer $AICC_API_KEY"' in curl and '"model": "snippets"' in curl
    cli = _snippet(text, "cli")
    assert "aicc key create snippets-client --deployment snippets" in cli
    assert f"--project {alice.project_id}" in cli
    python = _snippet(text, "python")
    assert "from openai import OpenAI" in python
    base = re.search(r'OpenAI\(base_url="([^"]+)"', python)
    model = re.search(r"model=\"([^\"]+)\"", python)
    assert base and model and 'os.environ["AICC_API_KEY"]' in python

    # what the snippet names, with a key of the project, through the real client
    made = api.post(
        "/api/v1/keys",
        params={"project": alice.project_id},
        json={"name": "snippets-client", "deployments": ["snippets"]},
        headers=alice.headers,
    )
    assert made.status_code == 201, made.text
    client = OpenAI(base_url=base.group(1), api_key=made.json()["secret"], http_client=api)
    said = client.chat.completions.create(
        model=model.group(1), messages=[{"role": "user", "content": "Hello"}]
    )
    assert (said.choices[0].message.content or "").startswith("hello from the upstream")

    page.post("/language", data={"csrf": csrf_of(page), "language": "zh-CN"})
    chinese = page.get(link).text
    assert "调用 snippets" in chinese and "复制" in chinese
    assert "# 只能调用此部署的密钥" in _snippet(chinese, "cli")
    assert '"content": "你好"' in _snippet(chinese, "python")
    assert signed_in(api, bob).get(link).status_code == 404
