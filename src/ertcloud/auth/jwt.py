"""JWT client assertions for the v2 client_credentials grant (private-key authentication).

As the vendor's JWT example: a JWK file holding a private key; the header carries the
key's ``alg`` and ``kid``; the claims are ``iss = sub = client_id``, ``aud`` (the CIAM
token URL unless told otherwise), ``iat`` and ``exp = iat + 3600``. Needs PyJWT with
cryptography: ``pip install 'ertcloud[jwt]'``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError

__all__ = [
    "DEFAULT_AUDIENCE",
    "JwtAssertion",
    "generate_jwk",
    "load_jwk",
    "public_jwk",
    "verify_assertion",
]

DEFAULT_AUDIENCE = "https://login.ciam.refinitiv.com/as/token.oauth2"
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _jwt() -> Any:
    try:
        import jwt
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ConfigError("JWT authentication needs PyJWT: pip install 'ertcloud[jwt]'") from None
    return jwt


def load_jwk(path: str, *, private: bool = True) -> dict[str, Any]:
    """Read a JWK (JSON) file (the first key of a JWK set); with ``private`` it must hold
    a private key, else only its public half is returned."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read JWK file {path}: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"JWK file {path} is not JSON") from None
    if isinstance(data, dict) and isinstance(data.get("keys"), list) and data["keys"]:
        data = data["keys"][0]
    if not isinstance(data, dict) or "kty" not in data:
        raise ConfigError(f"JWK file {path} holds no JSON Web Key")
    if not private:
        return public_jwk(data)
    if "d" not in data:
        raise ConfigError(f"JWK file {path} holds no private key")
    return data


def public_jwk(jwk: Mapping[str, Any]) -> dict[str, Any]:
    """The public half of ``jwk`` (what a server registers)."""
    return {k: v for k, v in jwk.items() if k not in _PRIVATE_MEMBERS}


def _algorithm(jwk: Mapping[str, Any]) -> str:
    alg = jwk.get("alg")
    if isinstance(alg, str) and alg:
        return alg
    kty = jwk.get("kty")
    if kty == "RSA":
        return "RS256"
    if kty == "EC":
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}.get(
            str(jwk.get("crv")), "ES256"
        )
    raise ConfigError(f"cannot tell the signing algorithm of a {kty} key; set 'alg'")


class JwtAssertion:
    """Builds a fresh signed assertion on each call (pass it as
    ``ClientCredentials(assertion=...)``)."""

    def __init__(
        self,
        jwk: Mapping[str, Any],
        client_id: str,
        *,
        audience: str = DEFAULT_AUDIENCE,
        lifetime: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        jwt = _jwt()
        self.algorithm = _algorithm(jwk)
        try:
            self._key = jwt.PyJWK(dict(jwk), algorithm=self.algorithm).key
        except (jwt.exceptions.PyJWKError, jwt.exceptions.InvalidKeyError, ValueError) as exc:
            raise ConfigError(f"unusable JWK: {exc}") from None
        self.kid = jwk.get("kid")
        self.client_id = client_id
        self.audience = audience
        self.lifetime = lifetime
        self._clock = clock

    def __call__(self) -> str:
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": uuid.uuid4().hex,
        }
        headers: dict[str, Any] = {"typ": "JWT"}
        if self.kid is not None:
            headers["kid"] = self.kid
        return str(_jwt().encode(claims, self._key, algorithm=self.algorithm, headers=headers))


def verify_assertion(
    assertion: str,
    jwks: Sequence[Mapping[str, Any]],
    client_id: str,
    audience: str = DEFAULT_AUDIENCE,
    *,
    now: float | None = None,
) -> str:
    """Check a client assertion against the client's public JWKs: signature (key chosen by
    ``kid``), ``iss``/``sub`` = ``client_id``, ``aud``, ``exp``. Returns "" if valid, else why
    not."""
    jwt = _jwt()
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.exceptions.InvalidTokenError as exc:
        return f"malformed assertion: {exc}"
    kid = header.get("kid")
    alg = header.get("alg")
    keys = [k for k in jwks if kid is None or k.get("kid") == kid]
    if not keys:
        return "no registered key matches the assertion's kid"
    last = "assertion refused"
    for k in keys:
        try:
            key = jwt.PyJWK(dict(k), algorithm=_algorithm(k)).key
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[_algorithm(k)] if alg == _algorithm(k) else [],
                audience=audience,
                options={"require": ["exp", "iat", "iss", "sub", "aud"]},
                leeway=5,
            )
        except jwt.exceptions.ExpiredSignatureError:
            return "assertion expired"
        except jwt.exceptions.InvalidAudienceError:
            return "assertion audience is wrong"
        except (jwt.exceptions.PyJWTError, ConfigError, ValueError) as exc:
            last = f"assertion refused: {exc}"
            continue
        if now is not None and claims["exp"] < now:
            return "assertion expired"
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return "assertion iss/sub is not the client id"
        return ""
    return last


def generate_jwk(kid: str | None = None, algorithm: str = "RS256") -> dict[str, Any]:
    """A fresh private JWK (RS256 or ES256), e.g. for the simulator and tests."""
    jwt = _jwt()
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm == "ES256":
        ec_key = ec.generate_private_key(ec.SECP256R1())
        data = jwt.algorithms.ECAlgorithm.to_jwk(ec_key, as_dict=True)
    elif algorithm == "RS256":
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        data = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key, as_dict=True)
    else:
        raise ConfigError(f"unsupported algorithm {algorithm}")
    out = dict(data)
    out["alg"] = algorithm
    out["kid"] = kid or uuid.uuid4().hex[:16]
    out["use"] = "sig"
    return out
