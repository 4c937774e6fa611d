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
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AccessToken", "Gateway", "Users"]

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

    # -- token validation used by discovery and the streaming server ----------------------

    def check(self, token: str | None) -> tuple[AccessToken | None, str]:
        """(token info, "") if valid now, else (None, reason)."""
        if not token:
            return None, "missing token"
        info = self.access.get(token)
        if info is None:
            return None, "invalid token"
        if info.revoked:
            return None, "token revoked"
        if self.clock() >= info.expires_at:
            return None, "token expired"
        return info, ""

    def revoke_user(self, user: str) -> None:
        for info in self.access.values():
            if info.user == user:
                info.revoked = True
        for rt in [k for k, r in self.refresh.items() if r.user == user]:
            del self.refresh[rt]

    def expire_all(self) -> None:
        now = self.clock()
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
        at = self.jwt(
            {
                "iss": ISSUER,
                "sub": user,
                "client_id": client_id or user,
                "scope": scope,
                "iat": int(now),
                "exp": int(now + ttl),
                "jti": uuid.uuid4().hex,
            }
        )
        self.access[at] = AccessToken(user, now + ttl, session, scope)
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
