"""Every page of the portal, in one list: a new page is a module with a `router` and one line
here. `web.install` adds them to the server in this order."""

from __future__ import annotations

from fastapi import APIRouter

from aicc.portal import (
    account,
    billing,
    center,
    connect,
    dashboard,
    data,
    deployments,
    endpoint,
    federation,
    images,
    job_metrics,
    job_resources,
    jobs,
    maintenance,
    marketplace,
    model_apis,
    models,
    money_forms,
    needs,
    notebook_proxy,
    notebooks,
    notify,
    quotas,
    reports,
    signing,
    sso,
    terminal,
    wizard,
    yaml_editor,
)

ROUTERS: tuple[APIRouter, ...] = (
    signing.router,
    sso.router,
    dashboard.router,
    jobs.router,
    terminal.router,  # a running job's terminal (`aicc job exec` in the browser)
    terminal.sockets,
    center.router,
    reports.router,
    federation.router,
    quotas.router,
    account.router,
    wizard.router,
    yaml_editor.router,
    billing.router,
    money_forms.router,  # price plans and budgets, set from the price list and /bills
    job_resources.router,
    job_metrics.router,
    data.router,
    marketplace.router,
    needs.router,  # needs and challenges (issue 41)
    models.router,
    model_apis.router,  # before deployments': /deployments/{name}/chat is no action
    deployments.router,
    endpoint.router,  # a deployment's endpoint: snippets to call its model API
    connect.router,  # your tools: every interface the center speaks, with snippets
    notebooks.router,
    images.router,
    notify.router,  # the inbox and notification channels
    maintenance.router,  # maintenance windows, on the nodes page (issue 40)
    notebook_proxy.router,  # last: /notebooks/{job_id}/... after the page's own paths
)
