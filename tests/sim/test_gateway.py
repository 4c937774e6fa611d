"""The simulated gateway's token endpoint, as pure logic driven by an injected clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

import jwt as pyjwt
import pytest

from ertcloud.sim.gateway import Gateway, password_policy_problem

V1 = "/auth/oauth2/v1/token"
BETA1 = "/auth/oauth2/beta1/token"
V2 = "/auth/oauth2/v2/token"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GOOD_NEW_PASSWORD = "Abcdefghij-Klmnopqrst-123456789"  # 31 chars, 4 classes


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gw(clock: Clock) -> Gateway:
    return Gateway(
        users={"GE-A-0001": "pw", "other": "pw2"},
        clients={"SVC": "S"},
        clock=clock,
    )


def basic(user: str, secret: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


def pw_form(
    user: str = "GE-A-0001",
    password: str = "pw",
    client_id: str | None = "APPKEY",
    exclusive: str | None = "True",
    scope: str = "trapi.streaming.pricing.read",
    **extra: str,
) -> dict[str, str]:
    form = {"username": user, "password": password, "grant_type": "password", "scope": scope}
    if client_id is not None:
        form["client_id"] = client_id
    if exclusive is not None:
        form["takeExclusiveSignOnControl"] = exclusive
    form.update(extra)
    return form


def rt_form(refresh_token: str, user: str = "GE-A-0001") -> dict[str, str]:
    return {
        "username": user,
        "client_id": "APPKEY",
        "refresh_token": refresh_token,
        "grant_type": "refresh_token",
    }


def login(gw: Gateway, path: str = V1, **kw: Any) -> dict[str, Any]:
    status, body = gw.token(path, pw_form(**kw), basic("APPKEY"))
    assert status == 200, body
    return body


# -- password grant ------------------------------------------------------------------------


def test_password_grant_ok(gw: Gateway, clock: Clock) -> None:
    status, body = gw.token(V1, pw_form(), basic("APPKEY"))
    assert status == 200
    assert set(body) == {"access_token", "refresh_token", "expires_in", "scope", "token_type"}
    assert body["expires_in"] == "300"  # a string, as observed
    assert body["scope"] == "trapi.streaming.pricing.read"
    assert body["token_type"] == "Bearer"
    assert UUID.match(body["refresh_token"])
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 20
    info, why = gw.check(body["access_token"])
    assert why == ""
    assert info is not None
    assert info.user == "GE-A-0001"
    assert info.expires_at == clock.now + 300
    assert gw.issued == 1


def test_password_grant_token_ttl(clock: Clock) -> None:
    gw = Gateway(users={"u": "p"}, token_ttl=600, clock=clock)
    status, body = gw.token(V1, pw_form("u", "p"), None)
    assert status == 200
    assert body["expires_in"] == "600"


def test_each_grant_issues_distinct_tokens(gw: Gateway) -> None:
    a = login(gw)
    b = login(gw)
    assert a["access_token"] != b["access_token"]
    assert a["refresh_token"] != b["refresh_token"]


@pytest.mark.parametrize(
    ("user", "password"), [("GE-A-0001", "wrong"), ("nobody", "pw"), ("", ""), ("GE-A-0001", "")]
)
def test_wrong_password(gw: Gateway, user: str, password: str) -> None:
    status, body = gw.token(V1, pw_form(user, password), basic("APPKEY"))
    assert (status, body) == (
        400,
        {"error": "invalid_grant", "error_description": "Invalid username or password."},
    )
    assert gw.issued == 0


def test_missing_client_id(gw: Gateway) -> None:
    status, body = gw.token(V1, pw_form(client_id=None), None)
    assert status == 401
    assert body["error"] == "invalid_client"
    assert body["error_description"]
    assert gw.issued == 0


def test_empty_client_id_and_no_basic_auth(gw: Gateway) -> None:
    status, body = gw.token(V1, pw_form(client_id=""), "Bearer something")
    assert status == 401
    assert body["error"] == "invalid_client"


def test_client_id_via_basic_auth_only(gw: Gateway) -> None:
    status, body = gw.token(V1, pw_form(client_id=None), basic("APPKEY", ""))
    assert status == 200, body
    assert gw.check(body["access_token"])[1] == ""


def test_garbled_basic_auth_is_ignored(gw: Gateway) -> None:
    status, body = gw.token(V1, pw_form(client_id=None), "Basic !!!not-base64!!!")
    assert status == 401
    assert body["error"] == "invalid_client"


def test_unsupported_grant_type(gw: Gateway) -> None:
    form = pw_form()
    form["grant_type"] = "authorization_code"
    status, body = gw.token(V1, form, basic("APPKEY"))
    assert status == 400
    assert body["error"] == "unsupported_grant_type"


# -- refresh grant -------------------------------------------------------------------------


def test_refresh_grant_returns_new_tokens(gw: Gateway, clock: Clock) -> None:
    first = login(gw)
    clock.now += 270
    status, body = gw.token(V1, rt_form(first["refresh_token"]), basic("APPKEY"))
    assert status == 200, body
    assert body["access_token"] != first["access_token"]
    assert body["refresh_token"] != first["refresh_token"]
    assert UUID.match(body["refresh_token"])
    assert body["expires_in"] == "300"
    assert body["token_type"] == "Bearer"
    info, why = gw.check(body["access_token"])
    assert why == "" and info is not None
    assert info.user == "GE-A-0001"
    assert info.expires_at == clock.now + 300


def test_refresh_token_is_single_use(gw: Gateway) -> None:
    first = login(gw)
    status, _ = gw.token(V1, rt_form(first["refresh_token"]), None)
    assert status == 200
    status, body = gw.token(V1, rt_form(first["refresh_token"]), None)
    assert status == 400
    assert body["error"] == "invalid_grant"


def test_refresh_chain(gw: Gateway, clock: Clock) -> None:
    rt = login(gw)["refresh_token"]
    for _ in range(5):
        clock.now += 270
        status, body = gw.token(V1, rt_form(rt), None)
        assert status == 200, body
        rt = body["refresh_token"]


def test_unknown_refresh_token(gw: Gateway) -> None:
    status, body = gw.token(V1, rt_form("f69c291b-4d1a-48e8-8210-19fad796b924"), None)
    assert status == 400
    assert body["error"] == "invalid_grant"


def test_refresh_token_expiry(gw: Gateway, clock: Clock) -> None:
    rt1 = login(gw)["refresh_token"]
    clock.now += 899
    status, body = gw.token(V1, rt_form(rt1), None)
    assert status == 200, body  # just in time
    clock.now += 900  # the new refresh token is not used within 15 minutes
    status, body = gw.token(V1, rt_form(body["refresh_token"]), None)
    assert (status, body) == (
        400,
        {"error": "invalid_grant", "error_description": "Refresh token expired."},
    )


def test_refresh_ttl_is_configurable(clock: Clock) -> None:
    gw = Gateway(users={"u": "p"}, refresh_ttl=60, clock=clock)
    status, body = gw.token(V1, pw_form("u", "p"), None)
    clock.now += 60
    status, body = gw.token(V1, rt_form(body["refresh_token"], user="u"), None)
    assert status == 400
    assert body["error_description"] == "Refresh token expired."


def test_refresh_token_of_another_user(gw: Gateway) -> None:
    rt = login(gw)["refresh_token"]
    status, body = gw.token(V1, rt_form(rt, user="other"), None)
    assert status == 400
    assert body["error"] == "invalid_grant"


def test_reject_refresh_knob(gw: Gateway) -> None:
    rt = login(gw)["refresh_token"]
    gw.reject_refresh = True
    status, body = gw.token(V1, rt_form(rt), None)
    assert status == 400
    assert body["error"] == "invalid_grant"
    gw.reject_refresh = False
    # A password grant still works while refreshes are refused.
    assert login(gw)["access_token"]


def test_refresh_keeps_the_granted_scope(gw: Gateway) -> None:
    first = login(gw, scope="trapi.streaming.pricing.read")
    status, body = gw.token(V1, rt_form(first["refresh_token"]), None)
    assert status == 200
    assert body["scope"] == "trapi.streaming.pricing.read"
    info, _ = gw.check(body["access_token"])
    assert info is not None and info.scope == "trapi.streaming.pricing.read"


# -- token validation ----------------------------------------------------------------------


def test_check_valid_expired_unknown(gw: Gateway, clock: Clock) -> None:
    at = login(gw)["access_token"]
    assert gw.check(None) == (None, "missing token")
    assert gw.check("") == (None, "missing token")
    assert gw.check("not-a-token") == (None, "invalid token")
    clock.now += 299
    info, why = gw.check(at)
    assert info is not None and why == ""
    clock.now += 1
    assert gw.check(at) == (None, "token expired")


def test_check_revoked(gw: Gateway) -> None:
    mine = login(gw)
    theirs = login(gw, user="other", password="pw2")
    gw.revoke_user("GE-A-0001")
    assert gw.check(mine["access_token"]) == (None, "token revoked")
    assert gw.check(theirs["access_token"])[1] == ""
    # A revoked user's refresh token is gone too.
    status, _ = gw.token(V1, rt_form(mine["refresh_token"]), None)
    assert status == 400


def test_expire_all(gw: Gateway) -> None:
    at = login(gw)["access_token"]
    gw.expire_all()
    assert gw.check(at) == (None, "token expired")


# -- exclusive sign-on ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["false", "False", "FALSE", " false "])
def test_exclusive_false_with_live_session(gw: Gateway, value: str) -> None:
    first = login(gw)
    status, body = gw.token(V1, pw_form(exclusive=value), basic("APPKEY"))
    assert (status, body) == (
        401,
        {"error": "access_denied", "error_description": "Session quota is reached."},
    )
    # The existing session is untouched.
    status, _ = gw.token(V1, rt_form(first["refresh_token"]), None)
    assert status == 200


def test_exclusive_false_without_a_session(gw: Gateway) -> None:
    assert login(gw, exclusive="false")["access_token"]


def test_exclusive_false_after_the_session_died(gw: Gateway, clock: Clock) -> None:
    login(gw)
    clock.now += 901  # access and refresh tokens both expired
    assert login(gw, exclusive="false")["access_token"]


def test_exclusive_false_other_user_is_not_blocked(gw: Gateway) -> None:
    login(gw)
    assert login(gw, user="other", password="pw2", exclusive="false")["access_token"]


@pytest.mark.parametrize("value", ["True", "true", "TRUE", None])
def test_exclusive_true_takes_over(gw: Gateway, value: str | None) -> None:
    first = login(gw)
    second = login(gw, exclusive=value)
    status, body = gw.token(V1, rt_form(first["refresh_token"]), None)
    assert status == 400
    assert body["error"] == "invalid_grant"
    # The new session's refresh token works.
    status, _ = gw.token(V1, rt_form(second["refresh_token"]), None)
    assert status == 200


# -- v2 client credentials -----------------------------------------------------------------


def cc_form(client_id: str = "SVC", secret: str | None = "S", **extra: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "scope": "trapi.streaming.pricing.read",
    }
    if secret is not None:
        form["client_secret"] = secret
    form.update(extra)
    return form


def test_v2_client_credentials_ok(gw: Gateway, clock: Clock) -> None:
    status, body = gw.token(V2, cc_form(), None)
    assert status == 200, body
    assert body["expires_in"] == 7199  # a number in v2
    assert "refresh_token" not in body
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "trapi.streaming.pricing.read"
    info, why = gw.check(body["access_token"])
    assert why == "" and info is not None
    assert info.user == "SVC"
    assert info.expires_at == clock.now + 7199


def test_v2_client_credentials_via_basic_auth(gw: Gateway) -> None:
    form = {"grant_type": "client_credentials", "scope": "trapi.streaming.pricing.read"}
    status, body = gw.token(V2, form, basic("SVC", "S"))
    assert status == 200, body


@pytest.mark.parametrize("secret", ["wrong", "", None])
def test_v2_bad_secret(gw: Gateway, secret: str | None) -> None:
    status, body = gw.token(V2, cc_form(secret=secret), None)
    assert status == 401
    assert body["error"] == "invalid_client"
    assert body["error_description"]
    assert gw.issued == 0


def test_v2_unknown_client(gw: Gateway) -> None:
    status, body = gw.token(V2, cc_form(client_id="NOPE"), None)
    assert status == 401
    assert body["error"] == "invalid_client"


def test_v2_client_assertion_is_refused(gw: Gateway) -> None:
    form = cc_form(
        secret=None,
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion="a.b.c",
    )
    status, body = gw.token(V2, form, None)
    assert status == 401
    assert body["error"] == "invalid_client"


def test_v2_path_refuses_password_grant(gw: Gateway) -> None:
    status, body = gw.token(V2, pw_form(), basic("APPKEY"))
    assert status == 400
    assert body["error"] == "unsupported_grant_type"


# -- change password -----------------------------------------------------------------------


def test_new_password_accepted(gw: Gateway) -> None:
    login(gw, newPassword=GOOD_NEW_PASSWORD)
    status, body = gw.token(V1, pw_form(), basic("APPKEY"))
    assert status == 400
    assert body["error"] == "invalid_grant"
    assert login(gw, password=GOOD_NEW_PASSWORD)["access_token"]


@pytest.mark.parametrize(
    "new_password",
    [
        "Short-1a",  # too short
        "abcdefghijklmnopqrstuvwxyzabcd1234",  # two classes only
        "Abcdefghij Klmnopqrst 123456789",  # space not allowed
        "Abcdefghij-Klmnopqrst-12345678é",  # non-ASCII
    ],
)
def test_new_password_policy(gw: Gateway, new_password: str) -> None:
    status, body = gw.token(V1, pw_form(newPassword=new_password), basic("APPKEY"))
    assert status == 400
    assert body["error"] == "invalid_request"
    assert body["error_description"] == password_policy_problem(new_password) != ""
    assert gw.issued == 0
    # The old password still works.
    assert login(gw)["access_token"]


def test_password_policy_problem() -> None:
    assert password_policy_problem(GOOD_NEW_PASSWORD) == ""
    assert password_policy_problem("abcdefghijklmnopqrstuvwxyzABCD").startswith("New password")
    assert "30" in password_policy_problem("Ab1-" * 7)  # 28 chars
    assert password_policy_problem("Ab1-" * 8) == ""  # 32 chars, 4 classes
    assert password_policy_problem("ABCDEFGHIJKLMNOPQRSTUVWXYZ1234") == (
        "New password must mix at least 3 of: upper case, lower case, digits, symbols."
    )
    assert password_policy_problem("ABCDEFGHIJKLMNOPQRSTUVWXYZ123!") == ""
    assert "not allowed" in password_policy_problem("ABCDEFGHIJKLMNOPQRSTUVWXYZ123\t")


def test_new_password_with_wrong_current_password(gw: Gateway) -> None:
    status, _ = gw.token(V1, pw_form(password="bad", newPassword=GOOD_NEW_PASSWORD), None)
    assert status == 400
    assert login(gw)["access_token"]  # unchanged


def test_refused_request_does_not_change_password(gw: Gateway) -> None:
    login(gw)
    status, body = gw.token(
        V1, pw_form(exclusive="false", newPassword=GOOD_NEW_PASSWORD), basic("APPKEY")
    )
    assert status == 401
    assert body["error_description"] == "Session quota is reached."
    assert gw.users["GE-A-0001"] == "pw"


# -- fault knobs and paths -----------------------------------------------------------------


@pytest.mark.parametrize("status_code", [503, 429, 500])
def test_fail_status_knob(gw: Gateway, status_code: int) -> None:
    gw.fail_status = status_code
    for path, form in ((V1, pw_form()), (V2, cc_form()), (BETA1, rt_form("x"))):
        status, body = gw.token(path, form, basic("APPKEY"))
        assert status == status_code
        assert body["error"] == "temporarily_unavailable"
        assert body["error_description"]
    assert gw.issued == 0
    gw.fail_status = None
    assert login(gw)["access_token"]


def test_beta1_path_works_like_v1(gw: Gateway) -> None:
    first = login(gw, path=BETA1)
    assert first["expires_in"] == "300"
    assert UUID.match(first["refresh_token"])
    status, body = gw.token(BETA1, rt_form(first["refresh_token"]), None)
    assert status == 200
    assert body["refresh_token"] != first["refresh_token"]
    status, body = gw.token(BETA1, pw_form(password="wrong"), basic("APPKEY"))
    assert status == 400
    assert body["error"] == "invalid_grant"
    # A refresh token from beta1 refreshes on v1 too (one token store).
    rt = login(gw, path=BETA1)["refresh_token"]
    status, _ = gw.token(V1, rt_form(rt), None)
    assert status == 200


# -- access tokens are JWTs ------------------------------------------------------------------


def _b64url_json(segment: str) -> dict[str, Any]:
    assert re.fullmatch(r"[A-Za-z0-9_-]+", segment), "base64url without padding"
    decoded = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert isinstance(decoded, dict)
    return decoded


def test_access_token_is_a_signed_jwt_with_the_expiry(gw: Gateway, clock: Clock) -> None:
    body = login(gw)
    token = body["access_token"]
    header_b64, claims_b64, signature = token.split(".")
    assert _b64url_json(header_b64) == {"alg": "HS256", "typ": "JWT", "kid": "ertcloud-sim"}
    claims = _b64url_json(claims_b64)
    assert set(claims) == {"iss", "sub", "client_id", "scope", "iat", "exp", "jti"}
    assert claims["sub"] == "GE-A-0001" and claims["client_id"] == "APPKEY"
    assert claims["scope"] == "trapi.streaming.pricing.read"
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] - claims["iat"] == int(body["expires_in"]) == 300
    # the signature is HMAC-SHA256 of header.payload under the gateway's key
    expected = hmac.new(
        gw.signing_key, f"{header_b64}.{claims_b64}".encode(), hashlib.sha256
    ).digest()
    assert base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)) == expected
    # a standard JWT library reads it, signature checked
    decoded = pyjwt.decode(
        token, gw.signing_key, algorithms=["HS256"], options={"verify_exp": False}
    )
    assert decoded == claims
    # what a client reads without the key: the expiry, as the gateway keeps it
    unverified = pyjwt.decode(token, options={"verify_signature": False})
    info, _ = gw.check(token)
    assert info is not None and unverified["exp"] == int(info.expires_at)


def test_every_token_has_its_own_jti(gw: Gateway) -> None:
    tokens = [login(gw)["access_token"] for _ in range(3)]
    jtis = {pyjwt.decode(t, options={"verify_signature": False})["jti"] for t in tokens}
    assert len(jtis) == 3


def test_refreshed_and_v2_tokens_are_jwts_too(gw: Gateway, clock: Clock) -> None:
    first = login(gw)
    clock.now += 100
    status, body = gw.token(V1, rt_form(first["refresh_token"]), basic("APPKEY"))
    assert status == 200
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "GE-A-0001" and claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 300
    status, body = gw.token(V2, cc_form(), None)
    assert status == 200
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == claims["client_id"] == "SVC"
    assert claims["exp"] - claims["iat"] == 7199


def test_a_forged_jwt_is_refused(gw: Gateway) -> None:
    token = login(gw)["access_token"]
    claims = pyjwt.decode(token, options={"verify_signature": False})
    claims["exp"] += 3600  # a longer life, signed with another key
    forged = pyjwt.encode(
        claims, "another key, not the gateway's own: 32+ bytes", algorithm="HS256"
    )
    assert gw.check(forged) == (None, "invalid token")
    header, payload, _sig = token.split(".")
    assert gw.check(f"{header}.{payload}.AAAA") == (None, "invalid token")


# -- J05: expires_in shrinks on refresh --------------------------------------------------------


def test_j05_refreshed_ttl_shrinks_expires_in_on_refresh_only(clock: Clock) -> None:
    gw = Gateway(users={"GE-A-0001": "pw"}, token_ttl=300, refreshed_ttl=240, clock=clock)
    first = login(gw)
    assert first["expires_in"] == "300"
    status, body = gw.token(V1, rt_form(first["refresh_token"]), None)
    assert status == 200 and body["expires_in"] == "240"
    info, _ = gw.check(body["access_token"])
    assert info is not None and info.expires_at == clock.now + 240
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 240
    # the refresh token still works, and a password grant gets the full lifetime again
    status, again = gw.token(V1, rt_form(body["refresh_token"]), None)
    assert status == 200 and again["expires_in"] == "240"
    assert login(gw)["expires_in"] == "300"
