"""A real OpenID Connect provider for the single sign-on tests: the `oidc-provider` package from
npm (tests/oidc/package.json, installed here with `npm ci`), started by tests/oidc/provider.mjs
on a free port with AICC registered as a client, and a person's walk through its pages."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from aicc.testing.servers import free_port
from aicc.testing.startup import start_timeout_s

OIDC = Path(__file__).resolve().parents[1] / "oidc"
CLIENT_ID = "aicc-portal"
CLIENT_SECRET = "test-client-secret-that-is-long-enough-0123456789"
_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def _loud_skip(reason: str) -> None:
    banner = "#" * 80
    sys.stderr.write(f"\n{banner}\nSINGLE SIGN-ON TESTS SKIPPED: {reason}\n{banner}\n")
    warnings.warn(reason, stacklevel=2)
    pytest.skip(reason)


def install() -> None:
    """`npm ci` in tests/oidc, unless oidc-provider is there at the version the lock pins."""
    pinned = json.loads((OIDC / "package-lock.json").read_text())["packages"]
    installed = OIDC / "node_modules" / "oidc-provider" / "package.json"
    if (
        installed.is_file()
        and json.loads(installed.read_text())["version"]
        == pinned["node_modules/oidc-provider"]["version"]
    ):
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        _loud_skip(
            "node and npm are missing: install them (Debian: apt-get install nodejs npm) so "
            "the tests can install the `oidc-provider` package from npm into tests/oidc"
        )
    assert npm is not None
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=OIDC,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        _loud_skip(
            f"`npm ci` in {OIDC} could not install the `oidc-provider` package "
            f"(exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
        )


@dataclass
class Provider:
    """A running provider: its issuer, and the people it knows (login -> claims)."""

    issuer: str
    accounts_file: Path
    accounts: dict[str, dict[str, Any]]

    def set_account(self, login: str, **claims: Any) -> None:
        """Add or change a person; the provider reads this at their next sign-in."""
        self.accounts[login] = claims
        self.accounts_file.write_text(json.dumps(self.accounts))


@contextlib.contextmanager
def provider(tmp: Path, redirect_uris: list[str]) -> Iterator[Provider]:
    """oidc-provider on a free port, with AICC's client registered for `redirect_uris`."""
    install()
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    accounts = tmp / "accounts.json"
    accounts.write_text("{}")
    config = {
        "issuer": issuer,
        "port": port,
        "accounts": str(accounts),
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": redirect_uris,
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            }
        ],
    }
    (tmp / "provider.json").write_text(json.dumps(config))
    log = (tmp / "provider.log").open("w")
    proc = subprocess.Popen(
        ["node", str(OIDC / "provider.mjs"), str(tmp / "provider.json")],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=OIDC,
    )
    try:
        deadline = time.monotonic() + start_timeout_s()
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2).is_success:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"oidc-provider did not start: {(tmp / 'provider.log').read_text()}"
                )
            time.sleep(0.1)
        yield Provider(issuer, accounts, {})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def settings(issuer: str, **extra: Any) -> dict[str, Any]:
    """AICC's `oidc` settings for the test provider: groups map to organizations and roles."""
    return {
        "issuer": issuer,
        "label": "Test IdP",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": ["openid", "profile", "email", "groups"],
        "rules": [
            {"value": "acme-admins", "org": "acme", "role": "org_admin"},
            {"value": "acme-users", "org": "acme", "role": "member"},
            {"value": "lab", "org": "lab", "role": "viewer"},
            {"value": "ghosts", "org": "nowhere"},
        ],
        **extra,
    }


def _submit(client: httpx.Client, page: httpx.Response, **fields: str) -> httpx.Response:
    """Post the page's form with its hidden fields and `fields`, without following."""
    found = _FORM.search(page.text)
    assert found, f"no form on {page.url}: {page.text[:500]}"
    data = dict(_HIDDEN.findall(found.group(2))) | fields
    return client.post(httpx.URL(str(page.url)).join(found.group(1)), data=data)


def walk(
    client: httpx.Client, start: str, login: str, *, until_callback: bool = False
) -> httpx.Response:
    """A person's walk from `start` (AICC's /sso/oidc) through the provider's sign-in and
    consent pages. Returns AICC's last answer (following its redirects), or with
    `until_callback` the provider's redirect to AICC's callback, not yet followed."""
    answer = client.get(start)
    for _ in range(20):
        if answer.is_redirect:
            target = answer.url.join(answer.headers["location"])
            if until_callback and target.path.endswith("/callback"):
                return answer
            answer = client.get(target)
        elif 'name="prompt" value="login"' in answer.text:
            answer = _submit(client, answer, login=login, password="any password")
        elif 'name="prompt" value="consent"' in answer.text:
            answer = _submit(client, answer)
        else:
            return answer
    raise AssertionError(f"the walk did not end: {answer.url}")
