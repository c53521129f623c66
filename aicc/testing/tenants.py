"""A second tenant for tests and benchmarks: an organization with one user and that user's
token, made through the API as an operator would."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi.testclient import TestClient

__all__ = ["Tenant", "make_tenant"]


@dataclass
class Tenant:
    org_id: str
    project_id: str
    user_id: str
    headers: dict[str, str]

    @property
    def token(self) -> str:
        return self.headers["Authorization"].removeprefix("Bearer ")


def make_tenant(api: TestClient | httpx.Client, name: str, role: str = "member") -> Tenant:
    """A new organization with one user of `role`, and that user's token."""
    org = api.post("/api/v1/orgs", json={"name": name}).json()
    user = api.post(
        "/api/v1/users", json={"name": f"{name}-user", "role": role, "org_id": org["id"]}
    ).json()
    token = api.post("/api/v1/tokens", json={"name": "test", "user_id": user["id"]}).json()
    return Tenant(
        org["id"],
        user["default_project_id"],
        user["id"],
        {"Authorization": f"Bearer {token['secret']}"},
    )
