"""The Python SDK: `aicc.Client`, one object that speaks the REST API of docs/api.md.

It is a `Transport` (auth, retries, errors, paging: transport.py) with one resource per noun,
each in its own module: `client.jobs.list()`, `client.nodes.cordon(name)`,
`client.secrets.set(name, value)`. The flat names of earlier releases (`client.create_org`,
`client.job(id)`) still work as aliases. Server and token resolve as docs/contracts.md §6 says,
exactly as the CLI does, because the CLI is built on this class.
"""

from __future__ import annotations

from typing import Any

from aicc.sdk.auth import aicc_home, is_local, resolve_server, resolve_token, save_token
from aicc.sdk.billing import (
    Bills,
    Budgets,
    Invoices,
    PricePlans,
    Subsidies,
    Usage,
    Vouchers,
)
from aicc.sdk.center import Accelerators, Audit, Estimates, PowerCap, Reports
from aicc.sdk.datasets import Datasets
from aicc.sdk.deployments import Deployments
from aicc.sdk.errors import ApiError, describe_errors, format_detail
from aicc.sdk.federation import Federation
from aicc.sdk.images import Images
from aicc.sdk.jobs import Jobs, Progress
from aicc.sdk.keys import Keys, Requests
from aicc.sdk.leases import Leases
from aicc.sdk.maintenance import Maintenance
from aicc.sdk.models import Models, Templates
from aicc.sdk.needs import Challenges, Needs
from aicc.sdk.nodes import Nodes
from aicc.sdk.notebooks import Notebooks
from aicc.sdk.notify import Notify
from aicc.sdk.queues import Queues
from aicc.sdk.s3keys import S3Keys
from aicc.sdk.secrets import Secrets
from aicc.sdk.tenancy import Orgs, Projects, Users
from aicc.sdk.tokens import Tokens
from aicc.sdk.transport import Json, Transport, api_path
from aicc.services.tenancy.views import Me

__all__ = [
    "ApiError",
    "Client",
    "Progress",
    "aicc_home",
    "describe_errors",
    "format_detail",
    "is_local",
    "resolve_server",
    "resolve_token",
    "save_token",
]


def _alias(target: str) -> Any:
    """A flat method of earlier releases that calls `client.<resource>.<method>` now."""
    noun, verb = target.split(".")

    def call(self: Client, *args: Any, **kwargs: Any) -> Any:
        return getattr(getattr(self, noun), verb)(*args, **kwargs)

    call.__name__ = call.__qualname__ = verb
    call.__doc__ = f"The same as `client.{target}(...)`."
    return call


class Client(Transport):
    """A session with one AICC server; every method returns the parsed JSON answer.

    Use it as a context manager, or call `close()`, to release the connection pool.
    """

    def __init__(
        self, server: str | None = None, token: str | None = None, *, timeout: float = 30
    ) -> None:
        super().__init__(server, token, timeout=timeout)
        self.jobs = Jobs(self)
        self.nodes = Nodes(self)
        self.orgs = Orgs(self)
        self.projects = Projects(self)
        self.users = Users(self)
        self.tokens = Tokens(self)
        self.s3_keys = S3Keys(self)  # access keys to the S3 endpoint (`/s3`)
        self.queues = Queues(self)
        self.secrets = Secrets(self)
        self.keys = Keys(self)  # API keys to deployments (`/v1`)
        self.requests = Requests(self)  # the gateway's request log
        self.datasets = Datasets(self)
        self.images = Images(self)  # the center registry's
        self.federation = Federation(self)  # the federation's sites
        self.models = Models(self)
        self.templates = Templates(self)
        self.deployments = Deployments(self)
        self.notebooks = Notebooks(self)
        self.notify = Notify(self)  # notification channels and the inbox
        self.maintenance = Maintenance(self)  # maintenance windows of nodes
        self.leases = Leases(self)  # dedicated capacity of organizations
        self.needs = Needs(self)  # the catalog of needs (供需对接)
        self.challenges = Challenges(self)  # challenges on needs' hidden sets (揭榜挂帅)
        self.accelerators = Accelerators(self)
        self.audit = Audit(self)
        self.reports = Reports(self)
        self.power_cap = PowerCap(self)
        self.estimates = Estimates(self)
        self.price_plans = PricePlans(self)
        self.vouchers = Vouchers(self)
        self.subsidies = Subsidies(self)
        self.budgets = Budgets(self)
        self.usage = Usage(self)
        self.bills = Bills(self)
        self.invoices = Invoices(self)

    def __enter__(self) -> Client:
        return self

    def health(self) -> Json:
        return self.call("GET", "/healthz")

    def me(self) -> Me:
        """Who the token belongs to: user, organization and projects."""
        return Me.model_validate(self.call("GET", api_path("me")))

    # The flat names of earlier releases; resources list themselves when called
    # (`client.orgs()`), so only the other verbs need an alias.
    import_nodes = _alias("nodes.import_inventory")
    cordon = _alias("nodes.cordon")
    drain = _alias("nodes.drain")
    uncordon = _alias("nodes.uncordon")
    create_org = _alias("orgs.create")
    set_org_quota = _alias("orgs.set_quota")
    create_project = _alias("projects.create")
    set_project_quota = _alias("projects.set_quota")
    add_member = _alias("projects.add_member")
    create_user = _alias("users.create")
    set_user_disabled = _alias("users.set_disabled")
    create_token = _alias("tokens.create")
    revoke_token = _alias("tokens.revoke")
    create_queue = _alias("queues.create")
    set_secret = _alias("secrets.set")
    delete_secret = _alias("secrets.delete")
    upload_workdir = _alias("jobs.upload_workdir")
    submit = _alias("jobs.submit")
    job = _alias("jobs.get")
    events = _alias("jobs.events")
    explain = _alias("jobs.explain")
    cancel = _alias("jobs.cancel")
    logs = _alias("jobs.logs")
    follow_logs = _alias("jobs.follow_logs")
    wait = _alias("jobs.wait")
    download_outputs = _alias("jobs.download_outputs")
    estimate = _alias("estimates.create")
    create_price_plan = _alias("price_plans.create")
    effective_price_plan = _alias("price_plans.effective")
    create_voucher = _alias("vouchers.create")
    create_subsidy = _alias("subsidies.create")
    set_budget = _alias("budgets.set")
    delete_budget = _alias("budgets.delete")
    bill = _alias("bills.get")
    bill_csv = _alias("bills.csv")
    issue_bill = _alias("bills.issue")
    adjust_bill = _alias("bills.adjust")
