"""A deployment's page lists the LoRA adapters it serves (`DEPLOYMENT:NAME`, its alias, the
adapter's version), in English and Chinese; another tenant's deployment's adapters are a 404."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, signed_in

from aicc.api.state import AppState
from aicc.services.models import models
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow


def register(state: AppState, person: Person, name: str, files: list[tuple[str, bytes]]) -> None:
    with state.db.session() as session:
        who = principal_of(session, session.get(UserRow, person.user_id))
        models.register(session, who, state.chunks, name, files, project=person.project_id)


def test_the_deployment_page_lists_its_adapters(
    site: tuple[TestClient, AppState], alice: Person, bob: Person
) -> None:
    api, state = site
    config = json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}).encode()
    register(state, alice, "base", [("config.json", config)])
    lora = json.dumps({"peft_type": "LORA", "base_model_name_or_path": "base"}).encode()
    register(
        state, alice, "lora", [("adapter_config.json", lora), ("adapter_model.safetensors", b"w")]
    )
    made = api.post(
        "/api/v1/deployments", json={"name": "lm", "model": "base"}, headers=alice.headers
    )
    assert made.status_code == 201, made.text
    assert api.post("/api/v1/deployments/lm/stop", headers=alice.headers).status_code == 200
    link = f"/deployments/lm?project={alice.project_id}"
    page = signed_in(api, alice)
    empty = page.get(link).text
    assert "LoRA adapters" in empty and "aicc deploy attach" in empty
    attached = api.post(
        "/api/v1/deployments/lm/adapters",
        json={"model": "lora", "alias": "support"},
        headers=alice.headers,
    )
    assert attached.status_code == 201, attached.text
    shown = page.get(link).text
    assert "lm:lora" in shown and "support" in shown and "/lora@1" in shown
    page.post("/language", data={"csrf": csrf_of(page), "language": "zh-CN"})
    assert "LoRA 适配器" in page.get(link).text and "别名" in page.get(link).text
    outsider = signed_in(api, bob)
    assert outsider.get(link).status_code == 404
    theirs = api.get(
        "/api/v1/deployments/lm/adapters",
        params={"project": alice.project_id},
        headers=bob.headers,
    )
    assert theirs.status_code == 404
