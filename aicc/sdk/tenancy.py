"""`client.orgs`, `client.projects`, `client.users`: the tenancy tree and its people."""

from __future__ import annotations

import builtins

from aicc.sdk.transport import Json, Resource, api_path, given

Quota = dict[str, dict[str, float]]


class Orgs(Resource):
    def list(self) -> Json:
        return self._t.pages(api_path("orgs"))

    def get(self, org_id: str) -> Json:
        return self._t.call("GET", api_path("orgs", org_id))

    def create(self, name: str, display_name: str | None = None, kind: str | None = None) -> Json:
        body = given(name=name, display_name=display_name, kind=kind)
        return self._t.call("POST", api_path("orgs"), json=body)

    def update(
        self, org_id: str, *, kind: str | None = None, display_name: str | None = None
    ) -> Json:
        body = given(kind=kind, display_name=display_name)
        return self._t.call("PATCH", api_path("orgs", org_id), json=body)

    def set_quota(self, org_id: str, quota: Quota) -> Json:
        return self._t.call("PUT", api_path("orgs", org_id, "quota"), json=quota)


class Projects(Resource):
    def list(self) -> Json:
        return self._t.pages(api_path("projects"))

    def get(self, project_id: str) -> Json:
        return self._t.call("GET", api_path("projects", project_id))

    def create(self, name: str, org_id: str | None = None) -> Json:
        return self._t.call("POST", api_path("projects"), json=given(name=name, org_id=org_id))

    def set_quota(self, project_id: str, quota: Quota) -> Json:
        return self._t.call("PUT", api_path("projects", project_id, "quota"), json=quota)

    def add_member(self, project_id: str, user_id: str) -> Json:
        path = api_path("projects", project_id, "members")
        return self._t.call("POST", path, json={"user_id": user_id})


class Users(Resource):
    def list(self) -> Json:
        return self._t.pages(api_path("users"))

    def get(self, user_id: str) -> Json:
        return self._t.call("GET", api_path("users", user_id))

    def create(
        self,
        name: str,
        role: str,
        org_id: str | None = None,
        projects: builtins.list[str] | None = None,
        password: str | None = None,
    ) -> Json:
        body = given(name=name, role=role, org_id=org_id, projects=projects, password=password)
        return self._t.call("POST", api_path("users"), json=body)

    def set_disabled(self, user_id: str, disabled: bool) -> Json:
        """Disable a user (their tokens and portal sessions stop at once) or enable them again."""
        return self._t.call("PATCH", api_path("users", user_id), json={"disabled": disabled})
