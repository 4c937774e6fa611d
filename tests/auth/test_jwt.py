"""JWT client assertions (v2 private-key auth): building them, and the simulator gateway
verifying them against registered public JWKs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt as pyjwt
import pytest

from ertcloud.auth.client import TokenClient
from ertcloud.auth.grants import JWT_ASSERTION_TYPE, ClientCredentials
from ertcloud.auth.jwt import (
    DEFAULT_AUDIENCE,
    JwtAssertion,
    generate_jwk,
    load_jwk,
    public_jwk,
    verify_assertion,
)
from ertcloud.auth.manager import TokenManager
from ertcloud.exceptions import ConfigError, InvalidCredentials
from ertcloud.sim.gateway import Gateway
from ertcloud.sim.server import SimOptions, SimServer

V2 = "/auth/oauth2/v2/token"


@pytest.fixture(scope="module")
def rsa_jwk() -> dict[str, object]:
    return generate_jwk("key-1", "RS256")


def test_assertion_header_and_claims_follow_the_vendor_example(rsa_jwk: dict[str, object]) -> None:
    make = JwtAssertion(rsa_jwk, "SVC-1", clock=lambda: 1_700_000_000)
    token = make()
    header = pyjwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == claims["sub"] == "SVC-1"
    assert claims["aud"] == DEFAULT_AUDIENCE == "https://login.ciam.refinitiv.com/as/token.oauth2"
    assert claims["iat"] == 1_700_000_000
    assert claims["exp"] == claims["iat"] + 3600
    assert make() != token  # fresh (jti) each time


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_verify_accepts_the_right_key_only(alg: str) -> None:
    key = generate_jwk("k", alg)
    other = generate_jwk("k", alg)
    token = JwtAssertion(key, "SVC")()
    assert verify_assertion(token, [public_jwk(key)], "SVC") == ""
    assert verify_assertion(token, [public_jwk(other)], "SVC").startswith("assertion refused")
    assert "iss/sub" in verify_assertion(token, [public_jwk(key)], "OTHER")
    assert verify_assertion(token, [public_jwk(key)], "SVC", "https://elsewhere") == (
        "assertion audience is wrong"
    )


def test_verify_refuses_expired_and_unknown_kid(rsa_jwk: dict[str, object]) -> None:
    old = JwtAssertion(rsa_jwk, "SVC", clock=lambda: time.time() - 7200)()
    assert verify_assertion(old, [public_jwk(rsa_jwk)], "SVC") == "assertion expired"
    pub = dict(public_jwk(rsa_jwk), kid="nope")
    assert "kid" in verify_assertion(JwtAssertion(rsa_jwk, "SVC")(), [pub], "SVC")
    assert verify_assertion("garbage", [pub], "SVC").startswith("malformed")


def test_public_jwk_has_no_private_members(rsa_jwk: dict[str, object]) -> None:
    pub = public_jwk(rsa_jwk)
    assert "d" not in pub and pub["kid"] == "key-1" and pub["n"] == rsa_jwk["n"]


def test_load_jwk_errors(tmp_path: Path, rsa_jwk: dict[str, object]) -> None:
    f = tmp_path / "k.json"
    f.write_text(json.dumps({"keys": [rsa_jwk]}))
    assert load_jwk(str(f))["kid"] == "key-1"
    f.write_text(json.dumps(public_jwk(rsa_jwk)))
    with pytest.raises(ConfigError, match="no private key"):
        load_jwk(str(f))
    f.write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        load_jwk(str(f))
    with pytest.raises(ConfigError, match="cannot read"):
        load_jwk(str(tmp_path / "missing.json"))


def test_gateway_issues_a_token_for_a_valid_assertion(rsa_jwk: dict[str, object]) -> None:
    gw = Gateway(jwks={"SVC": [public_jwk(rsa_jwk)]})
    form = {
        "grant_type": "client_credentials",
        "client_id": "SVC",
        "scope": "trapi.streaming.pricing.read",
        "client_assertion_type": JWT_ASSERTION_TYPE,
        "client_assertion": JwtAssertion(rsa_jwk, "SVC")(),
    }
    status, body = gw.token(V2, form, None)
    assert status == 200 and body["token_type"] == "Bearer" and "refresh_token" not in body
    bad = dict(form, client_assertion=JwtAssertion(generate_jwk("key-1"), "SVC")())
    status, body = gw.token(V2, bad, None)
    assert status == 401 and body["error"] == "invalid_client"
    status, body = gw.token(V2, dict(form, client_id="NOBODY"), None)
    assert status == 401
    status, body = gw.token(V2, dict(form, client_assertion_type="x"), None)
    assert status == 400


async def test_token_manager_with_jwt_against_the_simulator(rsa_jwk: dict[str, object]) -> None:
    opts = SimOptions(port=0, jwks={"SVC": [public_jwk(rsa_jwk)]})
    async with SimServer(opts) as sim:
        url = sim.base_url + V2
        good = TokenManager(
            TokenClient(url), ClientCredentials("SVC", assertion=JwtAssertion(rsa_jwk, "SVC"))
        )
        try:
            token = await good.get()
            info, why = sim.gateway.check(token.access_token)
            assert info is not None and info.user == "SVC", why
        finally:
            await good.client.close()
        wrong = generate_jwk("key-1")
        bad = TokenManager(
            TokenClient(url), ClientCredentials("SVC", assertion=JwtAssertion(wrong, "SVC"))
        )
        try:
            with pytest.raises(InvalidCredentials, match="Invalid client assertion"):
                await bad.get()
        finally:
            await bad.client.close()
