"""`client.orgs`, `client.projects`, `client.users`: the tenancy tree and its people, parsed
into the tenancy context's read models (`aicc.services.tenancy.views`), the classes the server's
services return: `client.orgs.get(id)` is an `Org`, `client.orgs.list()` a `list[Org]`."""

from __future__ import annotations

import builtins

from aicc.sdk.transport import Resource, api_path, given
from aicc.services.tenancy.views import Org, Project, User

Quota = dict[str, dict[str, float]]


class Orgs(Resource):
    def list(self) -> builtins.list[Org]:
        return self._items(Org, api_path("orgs"))

    def get(self, org_id: str) -> Org:
        return self._one(Org, "GET", api_path("orgs", org_id))

    def create(self, name: str, display_name: str | None = None, kind: str | None = None) -> Org:
        body = given(name=name, display_name=display_name, kind=kind)
        return self._one(Org, "POST", api_path("orgs"), json=body)

    def update(
        self, org_id: str, *, kind: str | None = None, display_name: str | None = None
    ) -> Org:
        body = given(kind=kind, display_name=display_name)
        return self._one(Org, "PATCH", api_path("orgs", org_id), json=body)

    def set_quota(self, org_id: str, quota: Quota) -> Org:
        path = api_path("orgs", org_id, "quota")
        return self._one(Org, "PUT", path, json=quota)


class Projects(Resource):
    def list(self) -> builtins.list[Project]:
        return self._items(Project, api_path("projects"))

    def get(self, project_id: str) -> Project:
        return self._one(Project, "GET", api_path("projects", project_id))

    def create(self, name: str, org_id: str | None = None) -> Project:
        body = given(name=name, org_id=org_id)
        return self._one(Project, "POST", api_path("projects"), json=body)

    def set_quota(self, project_id: str, quota: Quota) -> Project:
        path = api_path("projects", project_id, "quota")
        return self._one(Project, "PUT", path, json=quota)

    def add_member(self, project_id: str, user_id: str) -> Project:
        path = api_path("projects", project_id, "members")
        return self._one(Project, "POST", path, json={"user_id": user_id})


class Users(Resource):
    def list(self) -> builtins.list[User]:
        return self._items(User, api_path("users"))

    def get(self, user_id: str) -> User:
        return self._one(User, "GET", api_path("users", user_id))

    def create(
        self,
        name: str,
        role: str,
        org_id: str | None = None,
        projects: builtins.list[str] | None = None,
        password: str | None = None,
    ) -> User:
        body = given(name=name, role=role, org_id=org_id, projects=projects, password=password)
        return self._one(User, "POST", api_path("users"), json=body)

    def set_password(self, user_id: str, password: str, old_password: str | None = None) -> User:
        """Set a user's portal password: your own with the one you have now, or, as their
        organization's admin, another's (their portal sessions end)."""
        body = given(password=password, old_password=old_password)
        return self._one(User, "PUT", api_path("users", user_id, "password"), json=body)

    def set_disabled(self, user_id: str, disabled: bool) -> User:
        """Disable a user (their tokens and portal sessions stop at once) or enable them again."""
        path = api_path("users", user_id)
        return self._one(User, "PATCH", path, json={"disabled": disabled})
