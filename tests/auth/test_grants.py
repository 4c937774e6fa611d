"""Pure grant values: what goes on the wire, how the answer is read, what logs may show."""

from __future__ import annotations

import base64
import copy

import pytest

from ertcloud.auth.grants import (
    DEFAULT_SCOPE,
    JWT_ASSERTION_TYPE,
    ClientCredentials,
    PasswordCredentials,
    Token,
    TokenRequest,
    parse_token,
    redact,
)

CREDS = PasswordCredentials("GE-A-0001", "pw", "APPKEY", scope="trapi.streaming.pricing.read")


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


# -- TokenRequest.password -----------------------------------------------------------------


def test_password_form_is_the_vendor_example_form() -> None:
    req = TokenRequest.password(CREDS)
    assert req.grant == "password"
    # Same keys, same order, same values as the official examples' ``data=`` dict.
    assert list(req.form.items()) == [
        ("username", "GE-A-0001"),
        ("password", "pw"),
        ("client_id", "APPKEY"),
        ("grant_type", "password"),
        ("takeExclusiveSignOnControl", "True"),
        ("scope", "trapi.streaming.pricing.read"),
    ]


def test_password_basic_auth_is_client_id_and_empty_secret() -> None:
    req = TokenRequest.password(CREDS)
    assert req.basic_auth == ("APPKEY", "")
    # What requests sends for auth=(clientid, ""): base64 of "APPKEY:".
    assert req.headers == {"Accept": "application/json", "Authorization": _basic("APPKEY", "")}
    assert req.headers["Authorization"] == "Basic QVBQS0VZOg=="


def test_password_form_defaults_and_options() -> None:
    c = PasswordCredentials(
        "u", "p", "cid", client_secret="s3", take_exclusive_sign_on=False, new_password="NEW"
    )
    req = TokenRequest.password(c)
    assert req.form["scope"] == DEFAULT_SCOPE == "trapi"
    assert req.form["takeExclusiveSignOnControl"] == "False"
    assert req.form["newPassword"] == "NEW"
    assert req.form["client_secret"] == "s3"
    assert req.basic_auth == ("cid", "s3")
    assert req.headers["Authorization"] == _basic("cid", "s3")


def test_password_form_has_no_optional_fields_when_unset() -> None:
    req = TokenRequest.password(CREDS)
    assert "newPassword" not in req.form
    assert "client_secret" not in req.form


# -- TokenRequest.refresh ------------------------------------------------------------------


def test_refresh_form_is_the_vendor_example_form() -> None:
    req = TokenRequest.refresh(CREDS, "f69c291b-4d1a-48e8-8210-19fad796b924")
    assert req.grant == "refresh_token"
    assert list(req.form.items()) == [
        ("username", "GE-A-0001"),
        ("client_id", "APPKEY"),
        ("refresh_token", "f69c291b-4d1a-48e8-8210-19fad796b924"),
        ("grant_type", "refresh_token"),
    ]
    # No password, scope or takeExclusiveSignOnControl on a refresh (removed in 2019).
    assert "password" not in req.form
    assert "scope" not in req.form
    assert "takeExclusiveSignOnControl" not in req.form
    assert req.headers == {"Accept": "application/json", "Authorization": _basic("APPKEY", "")}


def test_refresh_form_carries_client_secret_when_set() -> None:
    c = PasswordCredentials("u", "p", "cid", client_secret="s3")
    req = TokenRequest.refresh(c, "rt")
    assert req.form["client_secret"] == "s3"
    assert req.basic_auth == ("cid", "s3")


# -- TokenRequest.client_credentials -------------------------------------------------------


def test_client_credentials_with_secret() -> None:
    req = TokenRequest.client_credentials(ClientCredentials("SVC", "S"))
    assert req.grant == "client_credentials"
    assert req.form == {
        "grant_type": "client_credentials",
        "client_id": "SVC",
        "scope": "trapi.streaming.pricing.read",
        "client_secret": "S",
    }
    assert req.basic_auth is None
    assert req.headers == {"Accept": "application/json"}


def test_client_credentials_with_jwt_assertion_builds_a_fresh_one_each_time() -> None:
    calls: list[int] = []

    def make_jwt() -> str:
        calls.append(1)
        return f"jwt-{len(calls)}"

    c = ClientCredentials("SVC", assertion=make_jwt, scope="s")
    first = TokenRequest.client_credentials(c)
    second = TokenRequest.client_credentials(c)
    assert first.form == {
        "grant_type": "client_credentials",
        "client_id": "SVC",
        "scope": "s",
        "client_assertion_type": JWT_ASSERTION_TYPE,
        "client_assertion": "jwt-1",
    }
    assert JWT_ASSERTION_TYPE == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in first.form
    assert second.form["client_assertion"] == "jwt-2"


def test_secrets_are_not_in_reprs() -> None:
    text = repr(CREDS) + repr(TokenRequest.password(CREDS))
    text += repr(ClientCredentials("SVC", "topsecret"))
    text += repr(Token("AT-secret", 300.0, 0.0, "RT-secret"))
    for secret in ("'pw'", "topsecret", "AT-secret", "RT-secret", "QVBQS0VZOg"):
        assert secret not in text


# -- parse_token ---------------------------------------------------------------------------


def test_parse_token_v1_expires_in_string() -> None:
    body = {
        "access_token": "AT",
        "refresh_token": "f69c291b-4d1a-48e8-8210-19fad796b924",
        "expires_in": "300",
        "scope": "trapi.streaming.pricing.read",
        "token_type": "Bearer",
    }
    t = parse_token(body, 1000.0)
    assert t.access_token == "AT"
    assert t.refresh_token == "f69c291b-4d1a-48e8-8210-19fad796b924"
    assert t.expires_in == 300.0
    assert t.obtained_at == 1000.0
    assert t.expires_at == 1300.0
    assert t.scope == "trapi.streaming.pricing.read"
    assert t.token_type == "Bearer"
    assert t.raw is body


@pytest.mark.parametrize("value", [7199, 7199.0, "7199"])
def test_parse_token_v2_expires_in_number(value: object) -> None:
    t = parse_token({"access_token": "AT", "expires_in": value, "token_type": "Bearer"}, 5.0)
    assert t.expires_in == 7199.0
    assert t.refresh_token is None
    assert t.expires_at == 7204.0


def test_parse_token_defaults() -> None:
    t = parse_token({"access_token": "AT", "scope": "", "refresh_token": None}, 0.0)
    assert t.expires_in == 300.0
    assert t.scope == ""
    assert t.token_type == "Bearer"
    assert t.refresh_token is None


def test_parse_token_600_second_accounts() -> None:
    assert parse_token({"access_token": "AT", "expires_in": "600"}, 0.0).expires_in == 600.0


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "AT",
        {},
        {"access_token": None, "expires_in": "300"},
        {"access_token": 42, "expires_in": "300"},
        {"error": "invalid_grant", "error_description": "Invalid username or password."},
    ],
)
def test_parse_token_rejects_bodies_without_access_token(body: object) -> None:
    with pytest.raises(ValueError, match="access_token"):
        parse_token(body, 0.0)


@pytest.mark.parametrize("value", ["five minutes", "", None, [300], {"s": 300}])
def test_parse_token_rejects_bad_expires_in(value: object) -> None:
    with pytest.raises(ValueError, match="expires_in"):
        parse_token({"access_token": "AT", "expires_in": value}, 0.0)


def test_token_renew_at_and_expired() -> None:
    t = Token("AT", 300.0, 1000.0, "RT")
    assert t.renew_at() == pytest.approx(1270.0)  # the examples' 90 %
    assert t.renew_at(0.5) == pytest.approx(1150.0)
    assert not t.expired(1299.9)
    assert t.expired(1300.0)
    assert t.expired(1285.0, margin=15.0)
    assert not t.expired(1284.9, margin=15.0)


# -- redact --------------------------------------------------------------------------------


def test_redact_hides_secrets_recursively() -> None:
    obj = {
        "access_token": "AT",
        "refresh_token": "RT",
        "expires_in": "300",
        "scope": "trapi",
        "form": {"username": "GE-A-0001", "password": "pw", "client_secret": "cs"},
        "Key": {
            "Name": "user",
            "Elements": {"ApplicationId": "256", "AuthenticationToken": "JWT"},
        },
        "list": [{"access_token": "AT2"}, "plain", 3, [{"password": "x"}]],
    }
    original = copy.deepcopy(obj)
    out = redact(obj)
    assert out == {
        "access_token": "<redacted>",
        "refresh_token": "<redacted>",
        "expires_in": "300",
        "scope": "trapi",
        "form": {"username": "GE-A-0001", "password": "<redacted>", "client_secret": "<redacted>"},
        "Key": {
            "Name": "user",
            "Elements": {"ApplicationId": "256", "AuthenticationToken": "<redacted>"},
        },
        "list": [{"access_token": "<redacted>"}, "plain", 3, [{"password": "<redacted>"}]],
    }
    assert obj == original  # a copy; the input is untouched


def test_redact_other_secret_keys() -> None:
    out = redact(
        {
            "id_token": "x",
            "newPassword": "y",
            "client_assertion": "z",
            "Authorization": "Basic abc",
        }
    )
    assert set(out.values()) == {"<redacted>"}


def test_redact_leaves_empty_values_visible() -> None:
    # An empty or missing secret is not a secret; showing it helps debugging.
    assert redact({"client_secret": "", "refresh_token": None}) == {
        "client_secret": "",
        "refresh_token": None,
    }


def test_redact_show_keeps_everything() -> None:
    obj = {"access_token": "AT", "nested": [{"password": "pw"}]}
    assert redact(obj, show=True) == {"access_token": "AT", "nested": [{"password": "pw"}]}


@pytest.mark.parametrize("value", ["text", 3, None, 1.5, True])
def test_redact_scalars_unchanged(value: object) -> None:
    assert redact(value) == value
