"""The shared noun commands (aicc/cli/nouns.py) on a throwaway Typer app against a real server:
what a new resource's CLI module gets for a few lines each — a table or `--json` for `list`,
aligned fields for `get`, `created NOUN NAME (ID)` for `create`, `NOUN KEY deleted` for
`delete`, and an error as one red line with exit code 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from aicc.cli.nouns import Json, Noun
from aicc.cli.output import col
from aicc.sdk.client import Client
from aicc.services.tenancy.views import Org, Secret
from aicc.testing.servers import over_http

ORGS = Noun(
    "org",
    [col("ID", "id"), col("NAME", "name"), col("DISPLAY NAME", "display_name")],
    empty="no organizations here",
)
SECRETS = Noun("secret", [col("NAME", "name")], empty="no secrets yet")
app = typer.Typer()


@ORGS.list(app, "orgs")
def org_list(api: Client) -> list[Org]:
    """Organizations."""
    return api.orgs.list()


@ORGS.get(app, "org")
def org_get(api: Client, org_id: Annotated[str, typer.Argument()]) -> Org:
    """One organization."""
    return api.orgs.get(org_id)


@ORGS.create(app, "add-org")
def org_create(
    api: Client,
    name: Annotated[str, typer.Argument()],
    display_name: Annotated[str | None, typer.Option()] = None,
) -> Org:
    """A new organization."""
    return api.orgs.create(name, display_name=display_name)


@SECRETS.list(app, "secrets")
def secret_list(api: Client) -> list[Secret]:
    """Secrets."""
    return api.secrets.list()


@SECRETS.delete(app, "forget")
def secret_delete(api: Client, name: Annotated[str, typer.Argument()]) -> Json:
    """Delete a secret."""
    return api.secrets.delete(name)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    home: Path = tmp_path_factory.mktemp("nouns") / "home"
    with over_http(home, loops=False) as (url, token, _state):
        yield url, token


def aicc(server: tuple[str, str], *args: str, code: int = 0) -> Any:
    url, token = server
    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result


def test_create_list_and_get_print_a_confirmation_a_table_and_fields(
    server: tuple[str, str],
) -> None:
    made = aicc(server, "add-org", "acme", "--display-name", "Acme Labs")
    org = json.loads(aicc(server, "orgs", "--json").stdout)["items"][-1]
    assert made.stdout == "" and f"created org acme ({org['id']})" in made.stderr
    assert org["display_name"] == "Acme Labs"
    row = next(line for line in aicc(server, "orgs").stdout.splitlines() if "acme" in line)
    assert row.split() == [org["id"], "acme", "Acme", "Labs"]
    fields = [line.rstrip() for line in aicc(server, "org", org["id"]).stdout.splitlines()]
    assert f"id            {org['id']}" in fields and "display name  Acme Labs" in fields
    assert json.loads(aicc(server, "org", org["id"], "--json").stdout) == org
    again = json.loads(aicc(server, "add-org", "beta", "--json").stdout)
    assert again["name"] == "beta" and again["id"].startswith("org_")


def test_delete_says_what_it_removed_and_an_error_is_one_line(server: tuple[str, str]) -> None:
    url, token = server
    with Client(url, token) as api:
        api.secrets.set("hf-token", "s3cr3t")
    assert aicc(server, "forget", "hf-token").stderr.strip() == "secret hf-token deleted"
    assert "no secrets yet" in aicc(server, "secrets").stderr
    assert json.loads(aicc(server, "secrets", "--json").stdout)["items"] == []
    gone = aicc(server, "forget", "hf-token", code=1)
    assert gone.stderr == "error: secret 'hf-token' not found in project default\n"
    assert aicc(server, "forget", "x", "--json", code=2)  # delete has nothing to print as JSON
    missing = aicc(server, "org", "org_nope", code=1)
    assert "org_nope" in missing.stderr and "Traceback" not in missing.output


def test_every_command_made_by_call_names_a_method_the_sdk_has() -> None:
    """`Noun.call` builds a command's body from a method's name, which mypy cannot check."""
    import aicc.cli.main  # noqa: F401  (registers every command)
    from aicc.cli.nouns import CALLS
    from aicc.sdk.client import Client

    client = Client("http://127.0.0.1:1", "unused")
    assert len(CALLS) > 30
    missing = [
        f"{sdk}.{method}"
        for sdk, method in CALLS
        if not callable(getattr(getattr(client, sdk, None), method, None))
    ]
    assert missing == []


def test_the_node_table_shows_the_driver_and_cuda_nvml_reported() -> None:
    """What the local executor's discovery labels a GPU node with (read on an H100 in
    BENCHMARKS.md); a node nobody read them on shows '-'."""
    from aicc.cli.nodes import driver_text

    gpu = {"labels": {"nvidia.com/driver": "580.159.04", "nvidia.com/cuda": "13.0"}}
    assert driver_text(gpu) == "580.159.04, CUDA 13.0"
    assert driver_text({"labels": {"site": "local"}}) == "-"
