"""Your tools (`/connect`): every interface the center speaks besides its portal, each with its
address and a snippet to copy, filled in with this server's address, the reader's project and
one of its data sets (docs/interop.md says what each serves and refuses).

The snippets run as shown: credentials come from environment variables, never from the page
(a token, an API key and an S3 key are each shown once, when made, on their own pages), and the
suite runs every snippet against a live server (tests/portal/test_portal_connect.py). Comments
are in the reader's language; the code is the same in both.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import Response

from aicc.portal.endpoint import KEY_VARIABLE, Snippet
from aicc.portal.i18n import Translator
from aicc.portal.page import PageDep
from aicc.portal.rendering import PortalRoute
from aicc.services.common import ServiceError
from aicc.services.data import datasets
from aicc.services.tenancy import tenancy

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

TOKEN_VARIABLE = "AICC_TOKEN"  # the SDK's and CLI's own variable (aicc/sdk/auth.py)


@dataclass(frozen=True)
class Interface:
    """One interface: its `kind` (the message keys' part), where it answers, the page that
    makes its credential, and its snippets."""

    kind: str
    address: str
    credential: str  # the portal page that makes what it signs in with
    snippets: list[Snippet]


def interfaces(t: Translator, base: str, project: str, dataset: str) -> list[Interface]:
    """The interfaces at `base` (the server's address as the reader reached it), for the reader's
    `project` (its name: the S3 bucket and the CLI's `--project`) and a `dataset` of it."""

    def comment(key: str, **values: str) -> str:
        return "# " + t(f"connect.comment.{key}", **values)

    quoted = json.dumps
    cli = "\n".join(
        [
            f"export AICC_SERVER={shlex.quote(base)}",
            comment("token", variable=TOKEN_VARIABLE),
            f'aicc login --token "${TOKEN_VARIABLE}"',
            f"aicc job list --project {shlex.quote(project)}",
        ]
    )
    sdk = "\n".join(
        [
            "import os",
            "",
            "from aicc import Client",
            "",
            comment("token", variable=TOKEN_VARIABLE),
            f'client = Client({quoted(base)}, token=os.environ["{TOKEN_VARIABLE}"])',
            f"for job in client.jobs.list(project={quoted(project)}, limit=10):",
            "    print(job.id, job.state)",
        ]
    )
    openai = "\n".join(
        [
            "import os",
            "",
            "from openai import OpenAI",
            "",
            comment("key", variable=KEY_VARIABLE),
            "client = OpenAI(",
            f"    base_url={quoted(base + '/v1')},",
            f'    api_key=os.environ["{KEY_VARIABLE}"],',
            ")",
            "print([model.id for model in client.models.list()])",
            "print([file.filename for file in client.files.list()])",
            "print([batch.status for batch in client.batches.list()])",
        ]
    )
    s3 = "\n".join(
        [
            "import boto3",
            "",
            comment("s3"),
            f's3 = boto3.client("s3", endpoint_url={quoted(base + "/s3")})',
            "listed = s3.list_objects_v2(",
            f"    Bucket={quoted(project)},",
            f"    Prefix={quoted(dataset + '/latest/')},",
            ")",
            'for item in listed.get("Contents", []):',
            '    print(item["Key"], item["Size"])',
        ]
    )
    mlflow = "\n".join(
        [
            "import mlflow",
            "",
            comment("mlflow", variable=TOKEN_VARIABLE),
            f"mlflow.set_tracking_uri({quoted(base + '/mlflow')})",
            "with mlflow.start_run() as run:",
            '    mlflow.log_param("lr", 0.01)',
            '    mlflow.log_metric("loss", 0.42)',
            "print(run.info.run_id)",
        ]
    )
    tes = "\n".join(
        [
            "import os",
            "",
            "import tes",
            "",
            comment("token", variable=TOKEN_VARIABLE),
            f'client = tes.HTTPClient(url={quoted(base)}, token=os.environ["{TOKEN_VARIABLE}"])',
            "print(client.get_service_info().name)",
            "print([task.id for task in client.list_tasks(view='MINIMAL').tasks or []])",
        ]
    )
    return [
        Interface("cli", base, "/tokens", [Snippet("bash", cli), Snippet("python", sdk)]),
        Interface("openai", f"{base}/v1", "/keys", [Snippet("python", openai)]),
        Interface("s3", f"{base}/s3", "/s3-keys", [Snippet("python", s3)]),
        Interface("mlflow", f"{base}/mlflow", "/tokens", [Snippet("python", mlflow)]),
        Interface("tes", f"{base}/ga4gh/tes/v1", "/tokens", [Snippet("python", tes)]),
    ]


@router.get("/connect")
def connect_page(page: PageDep) -> Response:
    base = str(page.request.base_url).rstrip("/")
    project, dataset = "PROJECT", "DATASET"
    try:  # the reader's default project and its first data set with a version
        current = tenancy.resolve_project(page.session, page.me.who, None)
        project = current.name
        found = datasets.list_datasets(page.session, page.me.who, project=current.id)
        dataset = next((d.name for d in found if d.latest is not None), dataset)
    except ServiceError:  # no default project, or none whose data the reader may list
        pass
    return page.render(
        "connect.html",
        nav="connect",
        interfaces=interfaces(page.t, base, project, dataset),
        token_variable=TOKEN_VARIABLE,
        key_variable=KEY_VARIABLE,
    )
