"""A deployment's endpoint page (`/deployments/{name}/api`): how to call its model API from
outside the portal, as snippets to copy. curl, Python and the CLI steps that make a key for it.

The address is the server's own as the browser reached it: the gateway answers under `/v1`
there (docs/gateway.md), with an API key as the bearer and the deployment's name as `model`. A
chat model is called with the official `openai` client; a template's model, which answers
`/predict` with rows (the playground's form), with Python's standard library and one example
row from its input schema. The key is an environment variable, never a secret on the page: a
key's secret is shown once, when it is made (`/keys`, `aicc key create`). Comments in the
snippets are in the reader's language; the code is the same in both.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from aicc.portal import model_apis
from aicc.portal import playground as pg
from aicc.portal.i18n import Translator
from aicc.portal.page import PageDep
from aicc.portal.rendering import PortalRoute
from aicc.services.serving import deployments, views

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

KEY_VARIABLE = "AICC_API_KEY"


@dataclass(frozen=True)
class Snippet:
    """One way to call the model API: `kind` (curl, python, cli) and the code to copy."""

    kind: str
    code: str


def example_row(schema: pg.Schema) -> dict[str, Any]:
    """One row of the model's inputs, from its schema's examples (numbers as numbers)."""
    row: dict[str, Any] = {}
    for item in schema.inputs:
        value: Any = item.example or (item.values[0] if item.values else "")
        if item.type in ("number", "integer") and value != "":
            try:
                number = float(value)
                value = int(number) if item.type == "integer" or number.is_integer() else number
            except ValueError:
                pass
        elif item.type == "boolean":
            value = value == "true"
        row[item.name] = value
    return row


def snippets(
    t: Translator, base: str, d: views.Deployment, project: str, schema: pg.Schema | None
) -> list[Snippet]:
    """curl, Python and CLI for deployment `d` of `project` (its id: the CLI's `--project`
    finds any the caller may read by it) at `base` (the server's address, without `/v1`)."""
    bearer = f'"Authorization: Bearer ${KEY_VARIABLE}"'
    name = json.dumps(d.name)
    if schema is None:
        hello = json.dumps(t("endpoint.hello"), ensure_ascii=False)
        url = f"{base}/v1/chat/completions"
        body = {"model": d.name, "messages": [{"role": "user", "content": t("endpoint.hello")}]}
        python = "\n".join(
            [
                "import os",
                "",
                "from openai import OpenAI",
                "",
                f"# {t('endpoint.comment.key', variable=KEY_VARIABLE)}",
                f'client = OpenAI(base_url="{base}/v1", api_key=os.environ["{KEY_VARIABLE}"])',
                "answer = client.chat.completions.create(",
                f"    model={name},",
                f'    messages=[{{"role": "user", "content": {hello}}}],',
                ")",
                "print(answer.choices[0].message.content)",
            ]
        )
    else:
        url = f"{base}/v1/deployments/{d.name}/predict"
        body = {"rows": [example_row(schema)]}
        rows = json.dumps(body, ensure_ascii=False)
        python = "\n".join(
            [
                "import json",
                "import os",
                "import urllib.request",
                "",
                f"# {t('endpoint.comment.key', variable=KEY_VARIABLE)}",
                "request = urllib.request.Request(",
                f'    "{url}",',
                f"    data=json.dumps({rows}).encode(),",
                "    headers={",
                f'        "Authorization": "Bearer " + os.environ["{KEY_VARIABLE}"],',
                '        "Content-Type": "application/json",',
                "    },",
                ")",
                "with urllib.request.urlopen(request) as answer:",
                "    print(json.load(answer))",
            ]
        )
    curl = " \\\n  ".join(
        [
            f"curl {shlex.quote(url)}",
            f"-H {bearer}",
            '-H "Content-Type: application/json"',
            f"-d {shlex.quote(json.dumps(body, ensure_ascii=False))}",
        ]
    )
    where = f" --project {shlex.quote(project)}"
    cli = "\n".join(
        [
            f"# {t('endpoint.comment.create')}",
            f"export {KEY_VARIABLE}=$(aicc key create {shlex.quote(d.name + '-client')} "
            f"--deployment {shlex.quote(d.name)}{where})",
            f"# {t('endpoint.comment.state')}",
            f"aicc deploy get {shlex.quote(d.name)}{where}",
        ]
    )
    return [Snippet("curl", curl), Snippet("python", python), Snippet("cli", cli)]


@router.get("/deployments/{name}/api")
def endpoint_page(page: PageDep, name: str, project: str | None = None) -> Response:
    found = deployments.get(page.session, page.me.who, name, project=project or None)
    schema = model_apis.predictor(page.session, page.me, found)
    base = str(page.request.base_url).rstrip("/")
    return page.render(
        "deployment_api.html",
        nav="deployments",
        d=found,
        base=base,
        predicts=schema is not None,
        snippets=snippets(page.t, base, found, found.project_id, schema),
        variable=KEY_VARIABLE,
    )
