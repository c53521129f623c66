"""OpenID Connect, the protocol: the authorization code flow with PKCE against one provider.

`begin` makes the provider's sign-in URL and what the browser must bring back (`Pending`:
state, nonce, the PKCE verifier), which the portal keeps sealed in a short-lived cookie.
`finish` checks the answer against it (state, and the issuer where the provider names it),
exchanges the code at the token endpoint (Authlib's OAuth2Client), verifies the ID token's
signature against the provider's JWKS and its issuer, audience, expiry and nonce (joserfc,
Authlib's JOSE library), and returns the person's claims, with the userinfo endpoint's added.

The provider's metadata (`/.well-known/openid-configuration`) and keys are cached for a few
minutes; keys are fetched again when a token names one the cache lacks (key rotation).
What the claims mean here (who, which organization, which role) is `services.sso`'s.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from aicc.config import OidcSettings
from aicc.services.common import ServiceError

log = logging.getLogger("aicc.sso")

METADATA_TTL_S = 300.0
PENDING_TTL_S = 600  # from leaving for the provider to coming back
LEEWAY_S = 60  # clock skew allowed on the ID token's times
DOWN_PAUSE_S = 5.0  # after the provider failed to answer, before it is asked again
# Asymmetric signatures only: `none` never, and an HMAC would let the client secret sign.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")


class SignInFailed(ServiceError):
    """The provider's answer cannot sign anyone in: declined, tampered with, or expired."""

    status = 400


class ProviderUnavailable(ServiceError):
    """The provider did not answer, or not as OpenID Connect says."""

    status = 502


@dataclass(frozen=True)
class Pending:
    """A sign-in begun: what the browser brings back to the callback, sealed."""

    provider: str
    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    next: str
    started_at: float


class Provider:
    """One configured provider, shared by the requests of a server (thread-safe caches)."""

    def __init__(self, settings: OidcSettings) -> None:
        assert settings.issuer is not None
        self.settings = settings
        self.issuer = settings.issuer
        self._lock = threading.Lock()
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: KeySet | None = None
        self._down_until = 0.0  # discovery failed: answer "unreachable" until then

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def label(self) -> str:
        return self.settings.label

    # --- what the provider publishes ---

    def _unreachable(self) -> ProviderUnavailable:
        return ProviderUnavailable(
            "the sign-in provider {provider} cannot be reached; try again later",
            provider=self.label,
        )

    def _get(self, url: str) -> dict[str, Any]:
        try:
            answer = httpx.get(url, timeout=self.settings.timeout_s, follow_redirects=True)
            answer.raise_for_status()
            body = answer.json()
        except (httpx.HTTPError, ValueError) as err:
            log.warning("sso: %s did not answer: %s", url, err)
            raise self._unreachable() from None
        if not isinstance(body, dict):
            raise ProviderUnavailable(
                "the sign-in provider {provider} answered with something else than OpenID Connect",
                provider=self.label,
            )
        return body

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, checked to be this issuer's."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata[0] < METADATA_TTL_S:
                return self._metadata[1]
            if time.monotonic() < self._down_until:  # asked a moment ago: do not wait again
                raise self._unreachable()
        try:
            found = self._get(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        except ProviderUnavailable:
            with self._lock:
                self._down_until = time.monotonic() + DOWN_PAUSE_S
            raise
        needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if found.get("issuer") != self.issuer or not all(found.get(k) for k in needed):
            log.warning("sso: discovery of %s names issuer %r", self.issuer, found.get("issuer"))
            raise ProviderUnavailable(
                "the sign-in provider {provider} answered with something else than OpenID Connect",
                provider=self.label,
            )
        with self._lock:
            self._metadata = (time.monotonic(), found)
        return found

    def _key_set(self, *, fresh: bool = False) -> KeySet:
        with self._lock:
            if self._keys is not None and not fresh:
                return self._keys
        try:
            keys = KeySet.import_key_set(self._get(self.metadata()["jwks_uri"]))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise ProviderUnavailable(
                "the sign-in provider {provider} answered with something else than OpenID Connect",
                provider=self.label,
            ) from None
        with self._lock:
            self._keys = keys
        return keys

    # --- the flow ---

    def begin(self, redirect_uri: str, next: str) -> tuple[str, Pending]:
        """The provider's sign-in URL to send the browser to, and what it must bring back."""
        pending = Pending(
            provider=self.name,
            state=generate_token(32),
            nonce=generate_token(32),
            verifier=generate_token(64),
            redirect_uri=redirect_uri,
            next=next,
            started_at=time.time(),
        )
        with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                self.metadata()["authorization_endpoint"],
                state=pending.state,
                nonce=pending.nonce,
                code_verifier=pending.verifier,
            )
        return url, pending

    def finish(self, pending: Pending | None, answer: Mapping[str, str]) -> dict[str, Any]:
        """The verified claims of the person the provider's `answer` (the callback's query)
        signs in, given what the browser brought back. Raises SignInFailed or
        ProviderUnavailable."""
        if pending is None or pending.provider != self.name:
            raise SignInFailed("this sign-in was not started here or has expired; start again")
        if time.time() - pending.started_at > PENDING_TTL_S:
            raise SignInFailed("this sign-in was not started here or has expired; start again")
        if not hmac.compare_digest(answer.get("state", "").encode(), pending.state.encode()):
            raise SignInFailed("this sign-in was not started here or has expired; start again")
        if "iss" in answer and answer["iss"] != self.issuer:  # RFC 9207: another provider's
            raise SignInFailed("this sign-in was not started here or has expired; start again")
        error = answer.get("error")
        if error == "access_denied":
            raise SignInFailed(
                "you did not allow {provider} to sign you in here", provider=self.label
            )
        if error or not answer.get("code"):
            log.info("sso: %s refused: %s %s", self.issuer, error, answer.get("error_description"))
            raise SignInFailed(
                "{provider} refused the sign-in ({error})",
                provider=self.label,
                error=error or "no code",
            )
        metadata = self.metadata()
        with self._client(pending.redirect_uri) as client:
            try:
                token = client.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=answer["code"],
                    code_verifier=pending.verifier,
                )
            except OAuthError as err:  # a used, expired or stolen code: invalid_grant
                log.info("sso: %s token endpoint: %s", self.issuer, err)
                raise SignInFailed(
                    "{provider} refused the sign-in ({error})",
                    provider=self.label,
                    error=err.error or "token",
                ) from None
            except (httpx.HTTPError, ValueError):
                raise self._unreachable() from None
            claims = self._verified(str(token.get("id_token") or ""), pending.nonce)
            userinfo = metadata.get("userinfo_endpoint")
            if userinfo:
                extra = self._userinfo(client, userinfo)
                if extra.get("sub") != claims["sub"]:
                    raise SignInFailed(
                        "{provider} refused the sign-in ({error})",
                        provider=self.label,
                        error="userinfo is another person's",
                    )
                claims = {**extra, **claims}
        return claims

    def _client(self, redirect_uri: str) -> OAuth2Client:
        secret = self.settings.client_secret
        return OAuth2Client(
            client_id=self.settings.client_id,
            client_secret=secret.get_secret_value() if secret is not None else None,
            token_endpoint_auth_method="client_secret_basic" if secret is not None else "none",
            scope=" ".join(self.settings.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self.settings.timeout_s,
        )

    def _userinfo(self, client: OAuth2Client, url: str) -> dict[str, Any]:
        try:
            answer = client.get(url)
            answer.raise_for_status()
            body = answer.json()
        except (httpx.HTTPError, ValueError):
            raise self._unreachable() from None
        return body if isinstance(body, dict) else {}

    def _verified(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature (the provider's keys), issuer, audience,
        times and nonce check out."""
        if not id_token:
            raise SignInFailed(
                "{provider} refused the sign-in ({error})",
                provider=self.label,
                error="no ID token",
            )
        allowed = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in allowed if a in ALGORITHMS]
        try:
            try:
                token = jwt.decode(id_token, self._key_set(), algorithms=algorithms)
            except JoseError:  # perhaps a key the provider rotated in since
                token = jwt.decode(id_token, self._key_set(fresh=True), algorithms=algorithms)
            claims = dict(token.claims)
            jwt.JWTClaimsRegistry(
                leeway=LEEWAY_S,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.settings.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(claims)
        except (JoseError, ValueError) as err:
            log.warning("sso: an ID token from %s was refused: %s", self.issuer, err)
            raise SignInFailed(
                "{provider} refused the sign-in ({error})",
                provider=self.label,
                error="the ID token does not verify",
            ) from None
        audience = claims.get("aud")
        several = isinstance(audience, list) and len(audience) > 1
        if several and claims.get("azp") != self.settings.client_id:
            raise SignInFailed(
                "{provider} refused the sign-in ({error})",
                provider=self.label,
                error="the ID token is for another client",
            )
        return claims


_providers: dict[str, Provider] = {}
_providers_lock = threading.Lock()


def provider_for(settings: OidcSettings) -> Provider | None:
    """The server's provider for these settings (one per configuration, so its caches are
    shared by all requests), or None when single sign-on is not configured."""
    if settings.issuer is None:
        return None
    secret = settings.client_secret.get_secret_value() if settings.client_secret else ""
    key = settings.model_dump_json() + "\0" + secret
    with _providers_lock:
        found = _providers.get(key)
        if found is None:
            found = _providers[key] = Provider(settings)
        return found
