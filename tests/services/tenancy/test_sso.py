"""What a provider's claims mean here: the first matching rule places a person, any claim can
be matched, an unmapped person is refused unless the site lets them in as members, and user
names made from claims are valid ones. (The whole flow, against a real provider, is in
tests/portal/test_portal_sso.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from aicc.config import OidcSettings
from aicc.core.tenancy import Role
from aicc.services.tenancy import sso


def oidc(**extra: Any) -> OidcSettings:
    rules = [
        {"value": "acme-admins", "org": "acme", "role": "org_admin"},
        {"value": "acme", "org": "acme"},
        {"claim": "hd", "value": "globex.com", "org": "globex", "role": "viewer"},
    ]
    return OidcSettings(issuer="https://sso.example.com", client_id="aicc", rules=rules, **extra)


@pytest.mark.parametrize(
    ("claims", "placed"),
    [
        ({"groups": ["acme", "acme-admins"]}, ("acme", Role.ORG_ADMIN)),  # the first rule wins
        ({"groups": ["acme"]}, ("acme", Role.MEMBER)),  # member when the rule names no role
        ({"groups": "acme"}, ("acme", Role.MEMBER)),  # a single value, not a list
        ({"groups": [], "hd": "globex.com"}, ("globex", Role.VIEWER)),  # another claim
        ({"groups": ["acme-admin"]}, None),  # no partial matches
        ({}, None),
    ],
)
def test_the_first_matching_rule_places_the_person(
    claims: dict[str, Any], placed: tuple[str, Role] | None
) -> None:
    found = sso.mapping(oidc(), {"sub": "1", **claims})
    assert (None if found is None else (found.org, found.role)) == placed


def test_an_unmapped_person_joins_the_default_org_only_when_the_site_says_so() -> None:
    assert sso.mapping(oidc(), {"sub": "1", "groups": ["sales"]}) is None
    let_in = sso.mapping(oidc(unmapped="member", default_org="guests"), {"sub": "1"})
    assert let_in == sso.Mapped("guests", Role.MEMBER)


def test_a_groups_claim_of_another_name() -> None:
    settings = oidc(groups_claim="roles")
    assert sso.mapping(settings, {"sub": "1", "roles": ["acme"]}) == sso.Mapped("acme", Role.MEMBER)
    assert sso.mapping(settings, {"sub": "1", "groups": ["acme"]}) is None


@pytest.mark.parametrize(
    ("claims", "name"),
    [
        ({"preferred_username": "Zhang San"}, "zhang-san"),
        ({"preferred_username": "alice@corp.example"}, "alice"),
        ({"email": "Bob.Smith@example.com"}, "bob.smith"),  # no username claim: the e-mail's
        ({"preferred_username": "  ", "email": "", "sub": "248289761001"}, "248289761001"),
        ({"preferred_username": "张三", "sub": "x"}, "x"),  # nothing usable: the subject
        ({"preferred_username": "a" * 80}, "a" * 56),
    ],
)
def test_user_names_from_claims_are_valid_names(claims: dict[str, Any], name: str) -> None:
    made = sso.user_name(oidc(), {"sub": "s-1", **claims})
    assert made == name
