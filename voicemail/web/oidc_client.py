"""OpenID Connect relying party (Authorization Code flow with PKCE, state and nonce), on authlib.

Framework-free: the routes in voicemail.web.oidc keep the per-sign-in state; this module talks to the
provider. Discovery (``<issuer>/.well-known/openid-configuration``, whose ``issuer`` must equal the
configured one), the authorization URL and token request (authlib's RFC 6749 / 7636 helpers: S256
code challenge, client_secret_basic), and the ID token check: signature with a key of the provider's
JWKS (refetched once when the ``kid`` is unknown — key rotation), ``iss``, ``aud`` (and ``azp``),
``exp`` / ``iat`` with one minute of leeway, ``nonce`` and ``at_hash`` (authlib's CodeIDToken claims on
joserfc).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

LEEWAY = 60
TIMEOUT = 15.0
METADATA_TTL = 3600.0


class OidcError(Exception):
    """A sign-in that failed; ``code`` says at which step (for the audit), the message is for the user."""

    def __init__(self, code: str, message: str, detail: str = "") -> None:
        super().__init__(detail or message)
        self.code = code
        self.message = message
        self.detail = detail


PROVIDER_TROUBLE = "The identity provider could not be reached or answered wrongly. Try again later."
TOKEN_INVALID = "The identity provider's answer could not be verified. Sign in again."  # noqa: S105 (a message)


class OidcClient:
    def __init__(self, issuer: str, client_id: str, client_secret: str, redirect_url: str,
                 scopes: Sequence[str], ca_file: str = "") -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.redirect_url = redirect_url
        self.scopes = tuple(scopes)
        self._verify: str | bool = ca_file or True
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: KeySet | None = None

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, verify=self._verify) as http:
                response = await http.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError("provider", PROVIDER_TROUBLE, f"{url}: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise OidcError("provider", PROVIDER_TROUBLE, f"{url}: not a JSON object")
        return data

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL:
            data = await self._get_json(self.issuer + "/.well-known/openid-configuration")
            if str(data.get("issuer", "")).rstrip("/") != self.issuer:
                raise OidcError("provider", PROVIDER_TROUBLE, "discovery document names another issuer")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(data.get(name), str):
                    raise OidcError("provider", PROVIDER_TROUBLE, f"discovery document lacks {name}")
            self._metadata, self._metadata_at, self._jwks = data, time.monotonic(), None
        return self._metadata

    async def _keys(self, *, refresh: bool = False) -> KeySet:
        if self._jwks is None or refresh:
            meta = await self.metadata()
            try:
                self._jwks = KeySet.import_key_set(await self._get_json(meta["jwks_uri"]))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError):
                raise OidcError("provider", PROVIDER_TROUBLE, "unusable JWKS") from None
        return self._jwks

    async def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        meta = await self.metadata()
        return str(prepare_grant_uri(meta["authorization_endpoint"], self.client_id, "code",
                                     redirect_uri=self.redirect_url, scope=" ".join(self.scopes), state=state,
                                     nonce=nonce, code_challenge=create_s256_code_challenge(code_verifier),
                                     code_challenge_method="S256"))

    async def exchange(self, code: str, code_verifier: str) -> dict[str, Any]:
        """The token response for an authorization code (client_secret_basic, or a public client's client_id)."""
        meta = await self.metadata()
        extra = {} if self._secret else {"client_id": self.client_id}
        body = prepare_token_request("authorization_code", redirect_uri=self.redirect_url, code=code,
                                     code_verifier=code_verifier, **extra)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if self._secret:  # RFC 6749 2.3.1: both form-urlencoded, then HTTP Basic
            pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, verify=self._verify) as http:
                response = await http.post(meta["token_endpoint"], content=body, headers=headers)
                token = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError("token", PROVIDER_TROUBLE, f"code exchange failed: {type(exc).__name__}") from None
        if not isinstance(token, dict) or response.status_code != 200:
            error = token.get("error", "") if isinstance(token, dict) else ""
            raise OidcError("token", PROVIDER_TROUBLE, f"token endpoint answered {response.status_code} "
                            f"{str(error)[:60]}".strip())
        if not isinstance(token.get("id_token"), str):
            raise OidcError("token", PROVIDER_TROUBLE, "token response without id_token")
        return token

    async def id_token_claims(self, token: dict[str, Any], nonce: str) -> dict[str, Any]:
        meta = await self.metadata()
        algs = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        algs = [a for a in algs if a != "none"]  # never accept an unsigned token
        registry = JWSRegistry(algorithms=algs, strict_check_header=False)
        try:
            try:
                decoded = jwt.decode(token["id_token"], await self._keys(), algorithms=algs, registry=registry)
            except InvalidKeyIdError:
                decoded = jwt.decode(token["id_token"], await self._keys(refresh=True), algorithms=algs,
                                     registry=registry)
        except JoseError as exc:
            raise OidcError("id_token", TOKEN_INVALID, f"id_token signature: {exc.error}") from None
        except (ValueError, TypeError) as exc:
            raise OidcError("id_token", TOKEN_INVALID, f"id_token unreadable: {type(exc).__name__}") from None
        options = {"iss": {"essential": True, "value": meta["issuer"]},
                   "aud": {"essential": True, "value": self.client_id}}
        params = {"nonce": nonce, "client_id": self.client_id, "access_token": token.get("access_token")}
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        try:
            claims.validate(leeway=LEEWAY)
        except JoseError as exc:
            raise OidcError("id_token", TOKEN_INVALID, f"id_token claims: {exc.error} {exc.description or ''}"
                            .strip()) from None
        if "nonce" not in decoded.claims:
            raise OidcError("id_token", TOKEN_INVALID, "id_token claims: nonce missing")
        return dict(decoded.claims)

    async def access_token_claims(self, access_token: str, audience: str) -> dict[str, Any]:
        """The claims of an access token this provider issued for ``audience`` (Office SSO: the add-in's
        token for our API), checked as an ID token is: signature with a JWKS key, ``iss``, ``aud``,
        ``exp`` / ``iat`` / ``nbf`` with the leeway. No nonce (none is issued with an access token)."""
        meta = await self.metadata()
        algs = [a for a in (meta.get("id_token_signing_alg_values_supported") or ["RS256"]) if a != "none"]
        registry = JWSRegistry(algorithms=algs, strict_check_header=False)
        try:
            try:
                decoded = jwt.decode(access_token, await self._keys(), algorithms=algs, registry=registry)
            except InvalidKeyIdError:
                decoded = jwt.decode(access_token, await self._keys(refresh=True), algorithms=algs,
                                     registry=registry)
            jwt.JWTClaimsRegistry(leeway=LEEWAY, iss={"essential": True, "value": meta["issuer"]},
                                  aud={"essential": True, "value": audience},
                                  exp={"essential": True}).validate(decoded.claims)
        except JoseError as exc:
            raise OidcError("access_token", TOKEN_INVALID, f"access token: {exc.error} "
                            f"{getattr(exc, 'description', '') or ''}".strip()) from None
        except (ValueError, TypeError) as exc:
            raise OidcError("access_token", TOKEN_INVALID, f"access token unreadable: {type(exc).__name__}") from None
        return dict(decoded.claims)
