"""Redox API credentials: read from the environment, never shown, turned into a signing key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from reconciler.errors import AuthError
from reconciler.formats import redact

_ENV_CLIENT_ID = "REDOX_CLIENT_ID"
_ENV_KEY_ID = "REDOX_KEY_ID"
_ENV_KEY = "REDOX_PRIVATE_KEY"
_ENV_KEY_FILE = "REDOX_PRIVATE_KEY_FILE"


@dataclass(frozen=True, repr=False)
class Credentials:
    """A Redox OAuth API key: client ID, key ID (the JWT `kid`) and the PEM private key."""

    client_id: str
    key_id: str
    private_key: str

    def __post_init__(self) -> None:
        redact.register_pem(self.private_key)

    def __repr__(self) -> str:
        # The private key must never reach a log line or a traceback.
        return (
            f"Credentials(client_id={self.client_id!r}, key_id={self.key_id!r}, "
            "private_key=<hidden>)"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials | None:
        """Read REDOX_CLIENT_ID, REDOX_KEY_ID, REDOX_PRIVATE_KEY(_FILE); None when none is set."""
        names = (_ENV_CLIENT_ID, _ENV_KEY_ID, _ENV_KEY, _ENV_KEY_FILE)
        # Presence is judged on stripped text; the PEM itself is kept byte for byte.
        values = {name: env.get(name, "").strip() for name in names}
        if not any(values.values()):
            return None
        if values[_ENV_KEY] and values[_ENV_KEY_FILE]:
            raise AuthError(
                f"Both {_ENV_KEY} and {_ENV_KEY_FILE} are set; set only one of them so that it is "
                "clear which private key signs the Redox client assertion."
            )
        missing = [name for name in (_ENV_CLIENT_ID, _ENV_KEY_ID) if not values[name]]
        if not values[_ENV_KEY] and not values[_ENV_KEY_FILE]:
            missing.append(f"{_ENV_KEY} (or {_ENV_KEY_FILE})")
        if missing:
            raise AuthError(
                f"Redox credentials are incomplete: {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set. Set {_ENV_CLIENT_ID}, "
                f"{_ENV_KEY_ID} (the key's kid) and {_ENV_KEY} (PEM text) or {_ENV_KEY_FILE} "
                "(a path), or unset all of them to run without credentials."
            )
        if values[_ENV_KEY_FILE]:
            path = Path(values[_ENV_KEY_FILE]).expanduser()
            try:
                pem = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise AuthError(
                    f"{_ENV_KEY_FILE} names {path}, which cannot be read "
                    f"({type(exc).__name__}: {getattr(exc, 'strerror', None) or 'not text'}). "
                    "Point it at the PEM file of the Redox API key's private key."
                ) from None
            source = _ENV_KEY_FILE
        else:
            # CI secrets often carry a PEM with its newlines escaped.
            pem = env[_ENV_KEY]
            if "\n" not in pem and "\\n" in pem:
                pem = pem.replace("\\n", "\n")
            source = _ENV_KEY
        credentials = cls(values[_ENV_CLIENT_ID], values[_ENV_KEY_ID], pem)
        signing_key(credentials, source=source)
        return credentials


def signing_key(credentials: Credentials, *, source: str = "the private key") -> tuple[Any, str]:
    """The loaded private key and its JWT algorithm (RS384 for RSA, ES384 for EC)."""
    try:
        key = serialization.load_pem_private_key(credentials.private_key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        # Never echo the key text: say only what kind of problem it is.
        reason = "it is encrypted" if "encrypted" in str(exc).lower() else "it is not PEM"
        raise AuthError(
            f"{source} cannot be used to sign the Redox client assertion: {reason}. "
            "Provide the unencrypted PEM private key (RSA or EC) of the Redox API key."
        ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        return key, "RS384"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key, "ES384"
    raise AuthError(
        f"{source} is a {type(key).__name__}; Redox accepts RSA (RS384) or EC (ES384) keys only."
    )
