"""The simulated Data Platform gateway: OAuth2 token endpoints and the token store.

Pure logic (time comes from an injected clock); :mod:`ertcloud.sim.server` maps HTTP
requests onto :meth:`Gateway.token`. v1 password and refresh_token grants (client id as a
form field or through HTTP Basic auth), v2 client_credentials with a secret, exclusive
sign-on, and the OAuth2 error bodies of RFC 6749 §5.2.

Access tokens are JWTs, as the real gateway's are: ``header.payload.signature`` in
base64url, signed HS256 with a key of this gateway. The claims are the usual ones of an
OAuth2 access token (RFC 9068): ``iss``, ``sub`` (the user, or the v2 client id),
``client_id``, ``scope``, ``iat``, ``exp`` (when ``expires_in`` runs out) and ``jti``, so a
client can read the expiry from the token itself (e.g. with PyJWT's
``jwt.decode(token, options={"verify_signature": False})``). The simulator still validates
a token by looking it up, so revocation and early expiry work.

A real gateway restart does not invalidate the tokens it issued; with a persistent signing
key (:func:`load_signing_key`, :func:`seed_signing_key`) neither does a simulator restart: a
token of an earlier run (its ``jti`` names another run) is checked by its signature and
``exp``. The token table is pruned as tokens run out, and bounded by ``max_tokens``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError

__all__ = ["AccessToken", "Gateway", "Users", "load_signing_key", "seed_signing_key"]

JWT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: ``iss`` of the access tokens the simulator issues
ISSUER = "https://sim.ertcloud.invalid/auth/oauth2"

Users = Mapping[str, str]
Reply = tuple[int, dict[str, Any]]


@dataclass
class AccessToken:
    user: str
    expires_at: float
    session: int
    scope: str
    revoked: bool = False
    #: the ``exp`` claim: once past it, the entry is not needed to refuse the token
    natural_expiry: float = 0.0


@dataclass
class _Refresh:
    user: str
    expires_at: float
    session: int
    expires_in: int
    scope: str


@dataclass
class Gateway:
    """Token issuing and validation for the simulator."""

    users: dict[str, str] = field(default_factory=lambda: {"demo": "demo"})
    clients: dict[str, str] = field(default_factory=dict)  # v2 client_id -> client_secret
    jwks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # v2 id -> public JWKs
    assertion_audience: str = "https://login.ciam.refinitiv.com/as/token.oauth2"
    #: called with the user name when an exclusive sign-on replaces a live session
    on_takeover: Callable[[str], None] | None = None
    token_ttl: int = 300
    refresh_ttl: int = 900
    v2_ttl: int = 7199
    #: ``expires_in`` of the access tokens that refresh grants issue (None: ``token_ttl``).
    #: Shorter than ``token_ttl``, it is conformance case J05: the lifetime shrinks on
    #: refresh, and a client must then do a password grant at once.
    refreshed_ttl: int | None = None
    #: the HS256 key the access tokens are signed with
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    clock: Callable[[], float] = time.time
    #: fault knobs (the test API and scenario files set these)
    reject_refresh: bool = False
    fail_status: int | None = None
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, _Refresh] = field(default_factory=dict)
    _sessions: dict[str, int] = field(default_factory=dict)
    _next_session: int = 1
    issued: int = 0
    refused: int = 0  # token requests answered with fail_status
    #: most access tokens remembered; beyond it the oldest are forgotten (and refused)
    max_tokens: int = 100_000
    #: this run's prefix of every ``jti``: a token with another one is from an earlier run
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    _last_prune: float = 0.0
    _earlier_cutoff: float = float("-inf")  # earlier runs' tokens issued before: expired
    _earlier_revoked: set[str] = field(default_factory=set)

    # -- token validation used by discovery and the streaming server ----------------------

    def check(self, token: str | None) -> tuple[AccessToken | None, str]:
        """(token info, "") if valid now, else (None, reason)."""
        if not token:
            return None, "missing token"
        info = self.access.get(token)
        if info is None:
            return self._check_unlisted(token)
        if info.revoked:
            return None, "token revoked"
        if self.clock() >= info.expires_at:
            return None, "token expired"
        return info, ""

    def _check_unlisted(self, token: str) -> tuple[AccessToken | None, str]:
        """A token not in the table: valid if an earlier run (same key) issued it and it
        has not run out; refused otherwise (this run's own tokens are all listed until
        they run out)."""
        claims = self.verify_jwt(token)
        if claims is None:
            return None, "invalid token"
        exp, iat = claims.get("exp"), claims.get("iat")
        jti, user = str(claims.get("jti", "")), str(claims.get("sub", ""))
        if not isinstance(exp, (int, float)) or not isinstance(iat, (int, float)):
            return None, "invalid token"
        if self.clock() >= exp:
            return None, "token expired"
        if jti.startswith(self.run_id):
            return None, "invalid token"  # forgotten (over max_tokens)
        if user in self._earlier_revoked:
            return None, "token revoked"
        if iat <= self._earlier_cutoff:
            return None, "token expired"
        info = AccessToken(user, float(exp), 0, str(claims.get("scope", "")))
        info.natural_expiry = float(exp)
        self.access[token] = info
        return info, ""

    def verify_jwt(self, token: str) -> dict[str, Any] | None:
        """The claims of a JWT signed with this gateway's key, or None."""
        parts = token.split(".")
        if len(parts) != 3 or len(token) > 8192:
            return None
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        mac = hmac.new(self.signing_key, signing_input, hashlib.sha256)
        try:
            sig = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        except ValueError:
            return None
        if not hmac.compare_digest(sig, mac.digest()):
            return None  # checked before the claims are even decoded
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (ValueError, RecursionError):
            return None
        return claims if isinstance(claims, dict) else None

    def prune(self) -> int:
        """Forget tokens that ran out (their refusal needs no entry) and, over
        ``max_tokens``, the oldest ones; returns how many entries went."""
        now = self.clock()
        self._last_prune = now
        before = len(self.access) + len(self.refresh)
        for k in [k for k, v in self.access.items() if now >= max(v.expires_at, v.natural_expiry)]:
            del self.access[k]
        for k in [k for k, r in self.refresh.items() if now >= r.expires_at]:
            del self.refresh[k]
        excess = len(self.access) - self.max_tokens
        if excess > 0:
            for k in list(self.access)[: excess + self.max_tokens // 10]:
                del self.access[k]
        return before - len(self.access) - len(self.refresh)

    def revoke_user(self, user: str) -> None:
        self._earlier_revoked.add(user)
        for info in self.access.values():
            if info.user == user:
                info.revoked = True
        for rt in [k for k, r in self.refresh.items() if r.user == user]:
            del self.refresh[rt]

    def expire_all(self) -> None:
        now = self.clock()
        self._earlier_cutoff = now
        for info in self.access.values():
            info.expires_at = min(info.expires_at, now)

    # -- the token endpoint --------------------------------------------------------------

    def token(self, path: str, form: Mapping[str, str], authorization: str | None) -> Reply:
        """Handle ``POST <path>`` with a url-encoded ``form``; returns (status, JSON body)."""
        if self.fail_status is not None:
            self.refused += 1
            return self.fail_status, {
                "error": "temporarily_unavailable",
                "error_description": "Simulated gateway failure.",
            }
        basic_id, basic_secret = _basic(authorization)
        client_id = form.get("client_id") or basic_id
        grant = form.get("grant_type", "")
        if path.endswith("/v2/token"):
            if grant != "client_credentials":
                return _err(
                    400, "unsupported_grant_type", f"Grant type '{grant}' is not supported."
                )
            return self._client_credentials(form, client_id or "", basic_secret)
        if grant == "password":
            return self._password(form, client_id)
        if grant == "refresh_token":
            return self._refresh(form, client_id)
        if grant == "client_credentials":
            return self._client_credentials(form, client_id or "", basic_secret)
        return _err(400, "unsupported_grant_type", f"Grant type '{grant}' is not supported.")

    def cookie_token(self, user: str, password: str) -> str | None:
        """A deployed ADS's ``/getToken``: a token for cookie auto-login, or None."""
        if not user or self.users.get(user) != password:
            return None
        return str(self._issue(user, 0, "", self.token_ttl, False)["access_token"])

    def jwt(self, claims: Mapping[str, Any]) -> str:
        """A JWT of ``claims`` signed (HS256) with this gateway's key."""
        header = {"alg": "HS256", "typ": "JWT", "kid": "ertcloud-sim"}
        signing_input = _b64url_json(header) + "." + _b64url_json(claims)
        mac = hmac.new(self.signing_key, signing_input.encode("ascii"), hashlib.sha256)
        return signing_input + "." + _b64url(mac.digest())

    def _issue(
        self,
        user: str,
        session: int,
        scope: str,
        ttl: int,
        with_refresh: bool,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        now = self.clock()
        if now - self._last_prune >= 1.0 or len(self.access) >= self.max_tokens:
            self.prune()
        at = self.jwt(
            {
                "iss": ISSUER,
                "sub": user,
                "client_id": client_id or user,
                "scope": scope,
                "iat": int(now),
                "exp": int(now + ttl),
                "jti": self.run_id + uuid.uuid4().hex[len(self.run_id) :],
            }
        )
        self.access[at] = AccessToken(user, now + ttl, session, scope, natural_expiry=now + ttl)
        self.issued += 1
        body: dict[str, Any] = {"access_token": at}
        if with_refresh:
            rt = secrets.token_hex(16)
            rt = f"{rt[:8]}-{rt[8:12]}-{rt[12:16]}-{rt[16:20]}-{rt[20:]}"
            self.refresh[rt] = _Refresh(user, now + self.refresh_ttl, session, ttl, scope)
            body["refresh_token"] = rt
            body["expires_in"] = str(ttl)
        else:
            body["expires_in"] = ttl
        body["scope"] = scope
        body["token_type"] = "Bearer"
        return body

    def _password(self, form: Mapping[str, str], client_id: str | None) -> Reply:
        user = form.get("username", "")
        password = form.get("password", "")
        if not client_id:
            return _err(401, "invalid_client", "Missing client_id.")
        if not user or self.users.get(user) != password:
            return _err(400, "invalid_grant", "Invalid username or password.")
        new_password = form.get("newPassword")
        if new_password is not None:
            problem = password_policy_problem(new_password)
            if problem:
                return _err(400, "invalid_request", problem)
        exclusive = form.get("takeExclusiveSignOnControl", "true").strip().lower() != "false"
        taken_over = False
        if user in self._sessions:
            alive = self._session_alive(user)
            if not exclusive and alive:
                return _err(401, "access_denied", "Session quota is reached.")
            self.revoke_refresh(user)
            old = self._sessions[user]
            for info in self.access.values():
                if info.user == user and info.session == old:
                    info.revoked = True
            taken_over = alive
        if new_password is not None:
            self.users[user] = new_password
        session = self._next_session
        self._next_session += 1
        self._sessions[user] = session
        scope = form.get("scope", "trapi") or ""
        reply = 200, self._issue(user, session, scope, self.token_ttl, True, client_id)
        if taken_over and self.on_takeover is not None:
            self.on_takeover(user)
        return reply

    def _session_alive(self, user: str) -> bool:
        now = self.clock()
        session = self._sessions.get(user)
        return any(
            r.session == session and r.expires_at > now for r in self.refresh.values()
        ) or any(
            a.session == session and a.expires_at > now and not a.revoked
            for a in self.access.values()
        )

    def revoke_refresh(self, user: str) -> None:
        for rt in [k for k, r in self.refresh.items() if r.user == user]:
            del self.refresh[rt]

    def _refresh(self, form: Mapping[str, str], client_id: str | None = None) -> Reply:
        rt = form.get("refresh_token", "")
        info = self.refresh.pop(rt, None)
        if self.reject_refresh or info is None:
            return _err(400, "invalid_grant", "Invalid refresh token.")
        if self.clock() >= info.expires_at:
            return _err(400, "invalid_grant", "Refresh token expired.")
        user = form.get("username")
        if user and user != info.user:
            return _err(400, "invalid_grant", "Refresh token was issued to another user.")
        ttl = self.refreshed_ttl if self.refreshed_ttl is not None else self.token_ttl
        return 200, self._issue(info.user, info.session, info.scope, ttl, True, client_id)

    def _client_credentials(
        self, form: Mapping[str, str], client_id: str, basic_secret: str | None
    ) -> Reply:
        secret = form.get("client_secret") or basic_secret
        assertion = form.get("client_assertion")
        if assertion:
            keys = self.jwks.get(client_id)
            if not client_id or not keys:
                return _err(401, "invalid_client", "Unknown client.")
            if form.get("client_assertion_type") != JWT_ASSERTION_TYPE:
                return _err(400, "invalid_request", "Unsupported client_assertion_type.")
            from ..auth.jwt import verify_assertion

            problem = verify_assertion(
                assertion, keys, client_id, self.assertion_audience, now=self.clock()
            )
            if problem:
                return _err(401, "invalid_client", f"Invalid client assertion: {problem}.")
            scope = form.get("scope", "trapi.streaming.pricing.read")
            return 200, self._issue(client_id, 0, scope, self.v2_ttl, False)
        if not client_id or client_id not in self.clients:
            return _err(401, "invalid_client", "Unknown client.")
        if secret != self.clients[client_id]:
            return _err(401, "invalid_client", "Invalid client secret.")
        scope = form.get("scope", "trapi.streaming.pricing.read")
        return 200, self._issue(client_id, 0, scope, self.v2_ttl, False)


def load_signing_key(path: str | Path) -> bytes:
    """The signing key in ``path`` (created, mode 0600, with a fresh random key if it does
    not exist), so the tokens of one run stay valid in the next."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create key file {p}: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    try:
        text = p.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {p}: {exc.strerror}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ConfigError(f"key file {p}: expected at least 32 hex digits")
    return key


def seed_signing_key(seed: int) -> bytes:
    """A signing key derived from the market seed (same seed, same key): for tests and
    demos only, since anyone who knows the seed can sign tokens."""
    return hashlib.sha256(f"ertcloud-sim-signing-key/{seed}".encode()).digest()


def password_policy_problem(pw: str) -> str:
    """Why a new password breaks the gateway policy ("" if it is fine)."""
    specials = set("~!@#$%^&*()-_=+[]{}|;:,.<>/?")
    if len(pw) < 30:
        return "New password must be at least 30 characters long."
    if any(not (c.isascii() and (c.isalnum() or c in specials)) for c in pw):
        return "New password contains characters that are not allowed."
    classes = sum(
        [
            any(c.isupper() for c in pw),
            any(c.islower() for c in pw),
            any(c.isdigit() for c in pw),
            any(c in specials for c in pw),
        ]
    )
    if classes < 3:
        return "New password must mix at least 3 of: upper case, lower case, digits, symbols."
    return ""


def _err(status: int, error: str, description: str) -> Reply:
    return status, {"error": error, "error_description": description}


def _basic(authorization: str | None) -> tuple[str | None, str | None]:
    if not authorization or not authorization.lower().startswith("basic "):
        return None, None
    try:
        raw = base64.b64decode(authorization[6:].strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None, None
    user, _, secret = raw.partition(":")
    return user or None, secret


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(obj: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(obj, separators=(",", ":"), sort_keys=False).encode())
