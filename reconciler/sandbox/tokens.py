"""The sandbox's OAuth 2.0 token endpoint: client credentials with a signed JWT assertion,
verified against the registered public keys, as Redox does it."""

from __future__ import annotations

import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from reconciler.redox.api import PUBLIC_KEY_NOT_FOUND, TOKEN_PATH
from reconciler.sandbox.rules import Refusal


def load_public_key(pem: str) -> Any:
    data = pem.encode()
    try:
        return serialization.load_pem_public_key(data)
    except ValueError:
        # A private key PEM is accepted too: its public half is what is trusted.
        return serialization.load_pem_private_key(data, password=None).public_key()


class TokenIssuer:
    """Issues access tokens to the clients whose public keys it trusts, and checks them."""

    def __init__(
        self, trusted_keys: Mapping[tuple[str, str], str], *, clock: Callable[[], float]
    ) -> None:
        # (client ID, key ID) -> public key
        self._keys = {ident: load_public_key(pem) for ident, pem in trusted_keys.items()}
        self._clock = clock
        self._tokens: dict[str, float] = {}  # token -> expiry on `clock`
        self._seen_jti: set[str] = set()

    def issue(self, content_type: str, body: bytes, *, lifetime: int) -> tuple[str, int, str]:
        """(client ID, lifetime, token) for a token request; Refusal as Redox words it."""
        if not content_type.lower().startswith("application/x-www-form-urlencoded"):
            raise Refusal(400, "x-www-form-urlencoded content-type required")
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("latin-1")).items()}
        if "grant_type" not in form:
            raise Refusal(400, "Missing grant_type parameter")
        if form["grant_type"] != "client_credentials":
            raise Refusal(400, "The grant_type parameter should equal 'client_credentials'")
        assertion = form.get("client_assertion")
        if not assertion:
            raise Refusal(400, "Missing client assertion")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise Refusal(400, "The client assertion is not a valid JWT") from None
        kid = header.get("kid")
        if not kid:
            raise Refusal(400, "JWT header kid property is required")
        key = self._keys.get((str(unverified.get("iss")), str(kid)))
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise Refusal(401, PUBLIC_KEY_NOT_FOUND)
        # The registered key decides the algorithm: a header cannot downgrade it.
        alg = "RS384" if isinstance(key, rsa.RSAPublicKey) else "ES384"
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[alg],
                leeway=30,
                options={"require": ["exp", "iat", "iss", "aud", "jti"], "verify_aud": False},
            )
        except jwt.InvalidTokenError as exc:
            raise Refusal(401, f"Invalid client assertion: {exc}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not any(str(aud).endswith(TOKEN_PATH) for aud in audiences):
            raise Refusal(401, "Invalid client assertion: aud must be the token URL")
        if float(claims["exp"]) > time.time() + 300 + 30:
            raise Refusal(401, "Invalid client assertion: exp is more than 5 minutes away")
        if claims["jti"] in self._seen_jti:
            raise Refusal(401, "Invalid client assertion: jti was already used")
        self._seen_jti.add(str(claims["jti"]))
        token = secrets.token_urlsafe(32)
        now = self._clock()
        # Drop expired tokens so a long-running server does not grow without bound.
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        self._tokens[token] = now + lifetime
        return str(claims["iss"]), lifetime, token

    def valid(self, authorization: str) -> bool:
        """Whether an Authorization header carries a token issued here and not yet expired."""
        scheme, _, token = authorization.partition(" ")
        expires_at = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return expires_at is not None and self._clock() < expires_at
