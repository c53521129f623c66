"""`aicc deploy attach|adapters|detach` against a real server over HTTP: an adapter model
version attached to a deployment of its base, listed in a table and as `--json`, detached; an
adapter of another base is one line naming both, and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from aicc.cli.main import app
from aicc.services.models import models
from aicc.services.serving import deployments
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow
from aicc.testing.servers import over_http

CONFIG = json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}).encode()


def peft(base: str) -> list[tuple[str, bytes]]:
    config = json.dumps({"peft_type": "LORA", "base_model_name_or_path": base}).encode()
    return [("adapter_config.json", config), ("adapter_model.safetensors", b"weights")]


def test_attach_list_and_detach_an_adapter(tmp_path: Path) -> None:
    with over_http(tmp_path / "home", loops=False) as (url, token, state):
        with state.db.session() as session:
            admin = session.query(UserRow).filter(UserRow.name == "admin").one()
            who = principal_of(session, admin)
            models.register(session, who, state.chunks, "base", [("config.json", CONFIG)])
            models.register(session, who, state.chunks, "tutor", peft("/data/base"))
            models.register(session, who, state.chunks, "stray", peft("someone/else"))
            deployments.create(session, who, state.blobs, name="chat", model="base")
        env = {
            "AICC_SERVER": url,
            "AICC_TOKEN": token,
            "COLUMNS": "200",
            "AICC_HOME": str(tmp_path / "client"),
        }

        def aicc(*args: str, code: int = 0) -> Result:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == code, result.output
            return result

        assert "no adapters" in aicc("deploy", "adapters", "chat").output
        made = aicc("deploy", "attach", "chat", "tutor", "--as", "tutor-v1", "--alias", "tutor")
        assert "attached adapter tutor-v1" in made.output
        table = aicc("deploy", "adapters", "chat").stdout
        assert "tutor-v1" in table and "/tutor@1" in table and "/data/base" in table
        printed = json.loads(aicc("deploy", "adapters", "chat", "--json").stdout)
        (listed,) = printed["items"] if isinstance(printed, dict) else printed
        assert (listed["name"], listed["alias"], listed["deployment"]) == (
            "tutor-v1",
            "tutor",
            "chat",
        )
        refused = aicc("deploy", "attach", "chat", "stray", code=1)
        said = " ".join(refused.output.split())
        assert "someone/else" in said and "/base@1" in said
        aicc("deploy", "detach", "chat", "tutor-v1")
        assert "no adapters" in aicc("deploy", "adapters", "chat").output
        aicc("deploy", "detach", "chat", "tutor-v1", code=1)
