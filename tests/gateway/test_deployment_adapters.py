"""A tenant's LoRA adapter, uploaded as a model version, attached to a deployment of its base
(services/serving/adapters.py) and called with the official `openai` client as `BASE:ADAPTER`
and by its alias: the running replica gets the adapter on its first request (no restart) and
answers as the adapter merged into the base answers. Another tenant's adapter and another
tenant's calls are 404s; an adapter of another base is a 422 naming both."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from aicc.sdk.client import Client
from aicc.server import ServerState
from aicc.services.models import models
from aicc.services.serving.adapters import base_matches
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow
from aicc.testing import serving
from aicc.testing.polling import wait
from aicc.testing.servers import over_http
from aicc.testing.tenants import Tenant, make_tenant

PROMPT = "the cat sat on the"


def merged_greedy(base: Path, adapter: Path, prompt: str, max_new: int) -> str:
    """The adapter merged into the base (peft's merge_and_unload), generating greedily."""
    model: Any = AutoModelForCausalLM.from_pretrained(base)
    model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(base)
    ids = tokenizer(prompt).input_ids
    with torch.no_grad():
        out = model.eval().generate(
            torch.tensor([ids]),
            max_new_tokens=max_new,
            min_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return str(tokenizer.decode(out[0, len(ids) :].tolist(), skip_special_tokens=True))


class World:
    def __init__(self, url: str, api: httpx.Client, a: Tenant, b: Tenant, files: Path) -> None:
        self.url, self.api, self.a, self.b, self.files = url, api, a, b, files
        self.keys = 0
        self.state: ServerState

    def sdk(self, tenant: Tenant) -> Client:
        return Client(server=self.url, token=tenant.token)

    def openai(self, tenant: Tenant) -> openai.OpenAI:
        self.keys += 1
        key = {"name": f"k{self.keys}"}
        made = self.api.post("/api/v1/keys", json=key, headers=tenant.headers)
        assert made.status_code == 201, made.text
        return openai.OpenAI(
            base_url=self.url + "/v1", api_key=made.json()["secret"], max_retries=0
        )


def register(state: ServerState, tenant: Tenant, name: str, files: Path) -> None:
    """`files` as the next version of the tenant's model `name`, as registering a job's
    outputs does (`POST /api/v1/models/NAME/versions`; services/models/models.py)."""
    with state.db.session() as session:
        who = principal_of(session, session.get(UserRow, tenant.user_id))
        models.register_directory(session, who, state.chunks, name, files)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("lora")
    base = serving.tiny_lm(root / "tiny", context=256)  # its adapters name it `.../tiny`
    serving.lora(base, root / "ada", seed=1)
    serving.lora(base, root / "bada", seed=2)
    shutil.copytree(base, root / "other")
    serving.lora(root / "other", root / "wrong", seed=3)  # an adapter of another base
    home = tmp_path_factory.mktemp("center") / "home"
    with over_http(home, limits={"grace_s": 1.0}) as (url, token, state):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        world = World(
            url, api, make_tenant(api, "alpha"), make_tenant(api, "beta", "org_admin"), root
        )
        world.state = state
        for tenant, name in ((world.a, "tiny"), (world.a, "ada"), (world.a, "wrong")):
            register(state, tenant, name, root / name)
        register(state, world.b, "bada", root / "bada")
        body = {
            "name": "chat",
            "model": "tiny",
            "engine": "transformers",
            "resources": {"cpu": "1", "memory": "2Gi"},
        }
        made = api.post("/api/v1/deployments", json=body, headers=world.a.headers)
        assert made.status_code == 201, made.text

        def ready() -> bool:
            shown = api.get("/api/v1/deployments/chat", headers=world.a.headers).json()
            return shown["state"] == "ready" and any(r["ready"] for r in shown["replicas"])

        wait("the base's replica ready", ready, timeout=180)
        yield world


def test_an_uploaded_adapter_attached_to_a_running_deployment_answers_as_merged(
    world: World,
) -> None:
    a = world.sdk(world.a)
    attached = a.deployments.attach("chat", "ada", alias="ada-chat")
    assert (attached.name, attached.alias, attached.base) == (
        "ada",
        "ada-chat",
        str(world.files / "tiny"),
    )
    assert attached.model.endswith("/ada@1")
    assert [x.name for x in a.deployments.adapters("chat")] == ["ada"]
    client = world.openai(world.a)
    expected = merged_greedy(world.files / "tiny", world.files / "ada", PROMPT, 8)
    for model in ("chat:ada", "ada-chat"):  # the replica gets it on the first; both say it
        answer = client.completions.create(
            model=model, prompt=PROMPT, max_tokens=8, temperature=0, extra_body={"ignore_eos": True}
        )
        assert answer.choices[0].text == expected
    plain = client.completions.create(
        model="chat", prompt=PROMPT, max_tokens=8, temperature=0, extra_body={"ignore_eos": True}
    )
    assert plain.choices[0].text != expected  # the base alone
    listed = {m.id for m in client.models.list()}
    assert {"chat", "chat:ada", "ada-chat"} <= listed
    with pytest.raises(openai.NotFoundError):  # not attached: not served, whatever it is
        client.completions.create(model="chat:wrong", prompt=PROMPT, max_tokens=2)
    # the request log names the adapter, called by its name or by its alias
    rows = world.api.get(
        "/api/v1/requests", params={"deployment": "chat"}, headers=world.a.headers
    ).json()["items"]
    assert sorted(str(r["adapter"]) for r in rows if r["status"] == 200) == ["None", "ada", "ada"]


def test_another_tenant_never_reaches_the_adapter(world: World) -> None:
    b = world.openai(world.b)
    for model in ("chat:ada", "ada-chat", "chat"):
        with pytest.raises(openai.NotFoundError):
            b.completions.create(model=model, prompt=PROMPT, max_tokens=2)
    listed = world.api.get("/api/v1/deployments/chat/adapters", headers=world.b.headers)
    assert listed.status_code == 404
    # nor may A serve B's private adapter: it does not exist for A
    b_model = world.sdk(world.b).models.get("bada")
    ref = f"{b_model.project}/bada@1"
    refused = world.api.post(
        "/api/v1/deployments/chat/adapters", json={"model": ref}, headers=world.a.headers
    )
    assert refused.status_code == 404, refused.text
    assert "bada" in refused.json()["detail"]


def test_an_org_shared_adapter_of_another_project_attaches_and_another_orgs_is_a_404(
    world: World,
) -> None:
    """An adapter shared with the organization (`visibility: org`) from another project of A's
    organization is A's to serve; one shared so in another organization does not exist for A."""
    serving.lora(world.files / "tiny", world.files / "cada", seed=4)
    serving.lora(world.files / "tiny", world.files / "dada", seed=5)
    # a project of A's organization that A is no member of, and a member of it
    lab = world.api.post("/api/v1/projects", json={"name": "lab", "org_id": world.a.org_id})
    assert lab.status_code == 201, lab.text
    made = world.api.post(
        "/api/v1/users", json={"name": "alpha-lab", "role": "member", "org_id": world.a.org_id}
    )
    assert made.status_code == 201, made.text
    joined = world.api.post(
        f"/api/v1/projects/{lab.json()['id']}/members", json={"user_id": made.json()["id"]}
    )
    assert joined.status_code == 200, joined.text
    token = world.api.post("/api/v1/tokens", json={"name": "lab", "user_id": made.json()["id"]})
    member = Tenant(
        world.a.org_id,
        lab.json()["id"],
        made.json()["id"],
        {"Authorization": f"Bearer {token.json()['secret']}"},
    )
    refs = []
    for tenant, name in ((member, "cada"), (world.b, "dada")):
        with world.state.db.session() as session:
            who = principal_of(session, session.get(UserRow, tenant.user_id))
            models.register_directory(
                session,
                who,
                world.state.chunks,
                name,
                world.files / name,
                project=tenant.project_id,
            )
        shown = world.api.get(
            f"/api/v1/models/{name}", params={"project": tenant.project_id}, headers=tenant.headers
        )
        ref = f"{shown.json()['project']}/{name}@1"
        private = world.api.post(
            "/api/v1/deployments/chat/adapters", json={"model": ref}, headers=world.a.headers
        )
        assert private.status_code == 404, private.text  # not shared yet: not A's to read
        shared = world.api.patch(
            f"/api/v1/models/{name}",
            params={"project": tenant.project_id},
            json={"visibility": "org"},
            headers=tenant.headers,
        )
        assert shared.status_code == 200 and shared.json()["visibility"] == "org", shared.text
        refs.append(ref)
    attached = world.sdk(world.a).deployments.attach("chat", refs[0])
    assert attached.name == "cada" and attached.model == refs[0]
    expected = merged_greedy(world.files / "tiny", world.files / "cada", PROMPT, 6)
    answer = world.openai(world.a).completions.create(
        model="chat:cada",
        prompt=PROMPT,
        max_tokens=6,
        temperature=0,
        extra_body={"ignore_eos": True},
    )
    assert answer.choices[0].text == expected
    refused = world.api.post(
        "/api/v1/deployments/chat/adapters", json={"model": refs[1]}, headers=world.a.headers
    )
    assert refused.status_code == 404, refused.text
    assert "dada" in refused.json()["detail"]


def test_a_public_adapter_of_another_tenant_may_be_attached(world: World) -> None:
    """The sharing rule is the registry's visibility: B's adapter made public is A's to serve."""
    shared = world.api.patch(
        "/api/v1/models/bada", json={"visibility": "public"}, headers=world.b.headers
    )
    assert shared.status_code == 200, shared.text
    ref = f"{shared.json()['project']}/bada@1"
    attached = world.sdk(world.a).deployments.attach("chat", ref)
    assert attached.name == "bada" and attached.model == ref
    expected = merged_greedy(world.files / "tiny", world.files / "bada", PROMPT, 6)
    answer = world.openai(world.a).completions.create(
        model="chat:bada",
        prompt=PROMPT,
        max_tokens=6,
        temperature=0,
        extra_body={"ignore_eos": True},
    )
    assert answer.choices[0].text == expected
    with pytest.raises(openai.NotFoundError):  # served on A's deployment, for A's keys only
        world.openai(world.b).completions.create(model="chat:bada", prompt=PROMPT, max_tokens=2)


def test_an_adapter_of_another_base_is_a_422_naming_both(world: World) -> None:
    refused = world.api.post(
        "/api/v1/deployments/chat/adapters", json={"model": "wrong"}, headers=world.a.headers
    )
    assert refused.status_code == 422, refused.text
    said = str(refused.json()["detail"])
    assert str(world.files / "other") in said and "/tiny@1" in said
    not_peft = world.api.post(
        "/api/v1/deployments/chat/adapters", json={"model": "tiny"}, headers=world.a.headers
    )
    assert not_peft.status_code == 422 and "not a LoRA adapter" in str(not_peft.json()["detail"])


def test_a_detached_adapter_is_no_longer_served(world: World) -> None:
    a = world.sdk(world.a)
    a.deployments.attach("chat", "ada", adapter="gone")
    client = world.openai(world.a)
    client.completions.create(model="chat:gone", prompt=PROMPT, max_tokens=2)
    a.deployments.detach("chat", "gone")
    with pytest.raises(openai.NotFoundError):  # at once on the server that detached it
        client.completions.create(model="chat:gone", prompt=PROMPT, max_tokens=2)
    assert "gone" not in [x.name for x in a.deployments.adapters("chat")]
    missing = world.api.delete("/api/v1/deployments/chat/adapters/gone", headers=world.a.headers)
    assert missing.status_code == 404


def test_a_base_is_named_by_reference_or_by_the_path_it_was_found_at() -> None:
    model = "acme/lab/tiny@2"
    for said in ("tiny", "tiny@2", "acme/lab/tiny", model, "/data/tiny/", "/x/tiny/model"):
        assert base_matches(said, model), said
    for said in ("/data/other", "tiny@3", "model", "acme/lab/tinyx"):
        assert not base_matches(said, model), said
