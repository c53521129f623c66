"""Who may read, write and manage what in the tenancy tree (docs/contracts.md §4)."""

from __future__ import annotations

import pytest

from aicc.core.tenancy import Principal, Quota, Role, can_manage, can_read, can_write

ORG = "org_A"
OTHER_ORG = "org_B"
MY_PROJECT = "prj_mine"
OTHER_PROJECT = "prj_theirs"  # in the same organization, but the caller is not a member


def who(role: Role, org: str = ORG) -> Principal:
    return Principal(
        user_id="usr_1", name="ann", org_id=org, role=role, project_ids=frozenset({MY_PROJECT})
    )


# (role, org of the object, project of the object) -> (read, write)
ACCESS = [
    (Role.ADMIN, OTHER_ORG, OTHER_PROJECT, True, True),
    (Role.ADMIN, ORG, None, True, True),
    (Role.ORG_ADMIN, ORG, MY_PROJECT, True, True),
    (Role.ORG_ADMIN, ORG, OTHER_PROJECT, True, True),
    (Role.ORG_ADMIN, ORG, None, True, True),
    (Role.ORG_ADMIN, OTHER_ORG, OTHER_PROJECT, False, False),
    (Role.ORG_ADMIN, OTHER_ORG, None, False, False),
    (Role.MEMBER, ORG, MY_PROJECT, True, True),
    (Role.MEMBER, ORG, OTHER_PROJECT, False, False),
    (Role.MEMBER, ORG, None, True, True),
    (Role.MEMBER, OTHER_ORG, MY_PROJECT, False, False),
    (Role.MEMBER, OTHER_ORG, None, False, False),
    (Role.VIEWER, ORG, MY_PROJECT, True, False),
    (Role.VIEWER, ORG, OTHER_PROJECT, False, False),
    (Role.VIEWER, ORG, None, True, False),
    (Role.VIEWER, OTHER_ORG, MY_PROJECT, False, False),
]


@pytest.mark.parametrize(("role", "org", "project", "read", "write"), ACCESS)
def test_read_and_write(role: Role, org: str, project: str | None, read: bool, write: bool) -> None:
    caller = who(role)
    assert can_read(caller, org_id=org, project_id=project) is read
    assert can_write(caller, org_id=org, project_id=project) is write


@pytest.mark.parametrize(
    ("role", "org", "manage"),
    [
        (Role.ADMIN, ORG, True),
        (Role.ADMIN, OTHER_ORG, True),
        (Role.ORG_ADMIN, ORG, True),
        (Role.ORG_ADMIN, OTHER_ORG, False),
        (Role.MEMBER, ORG, False),
        (Role.VIEWER, ORG, False),
    ],
)
def test_manage(role: Role, org: str, manage: bool) -> None:
    assert can_manage(who(role), org_id=org) is manage


def test_an_admin_of_another_org_is_still_a_center_admin() -> None:
    admin = who(Role.ADMIN, org="org_center")
    assert admin.is_admin
    assert can_write(admin, org_id=ORG, project_id=OTHER_PROJECT)


def test_roles_rank_from_viewer_to_admin() -> None:
    ranks = [r.rank for r in (Role.VIEWER, Role.MEMBER, Role.ORG_ADMIN, Role.ADMIN)]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == 4


def test_a_sound_quota_has_no_problems() -> None:
    quota = Quota(
        guaranteed={"cpu_milli": 8000, "H100-SXM": 2000},
        max={"cpu_milli": 16000, "memory_mib": 65536},
    )
    assert quota.check() == []
    assert Quota().check() == []


def test_a_guarantee_may_equal_its_max() -> None:
    assert Quota(guaranteed={"pflops": 2.0}, max={"pflops": 2.0}).check() == []


def test_a_guarantee_above_its_max_is_a_problem() -> None:
    problems = Quota(guaranteed={"cpu_milli": 9000}, max={"cpu_milli": 8000}).check()
    assert problems == ["guaranteed cpu_milli (9000) exceeds max (8000)"]


def test_negative_amounts_are_problems() -> None:
    assert Quota(max={"memory_mib": -1}).check() == ["memory_mib must not be negative"]
    assert Quota(guaranteed={"pflops": -0.5}).check() == ["pflops must not be negative"]


def test_a_negative_guarantee_is_reported_even_when_its_max_is_fine() -> None:
    assert Quota(guaranteed={"cpu_milli": -1}, max={"cpu_milli": 8000}).check() == [
        "cpu_milli must not be negative"
    ]


def test_each_problem_is_reported_once() -> None:
    problems = Quota(guaranteed={"cpu_milli": -1}, max={"cpu_milli": -2}).check()
    assert problems == [
        "cpu_milli must not be negative",
        "guaranteed cpu_milli (-1) exceeds max (-2)",
    ]
