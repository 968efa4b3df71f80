"""Forged and misused access tokens are refused by the running gateway (401), never honoured.

Each attack takes a genuine patient token (or the real signing key, where the
attack is about claims rather than signatures) and changes one thing.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from wenzhen.tokens import AUDIENCE, ISSUER, Signer

pytestmark = pytest.mark.integration


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(base64.urlsafe_b64decode(pad(payload)))


def unsigned(header: dict, payload: dict) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


@pytest.fixture(scope="module")
def victim(stack):
    return stack.patient()


@pytest.fixture(scope="module")
def genuine(victim) -> str:
    return victim.session.tokens["access_token"]


@pytest.fixture(scope="module")
def signer(stack) -> Signer:
    return Signer.from_env(stack.env)


def claims_like(genuine: str, **changes) -> dict:
    return {**parts(genuine)[1], **changes}


def attacks(stack, genuine: str, signer: Signer) -> dict[str, str]:
    header, payload = parts(genuine)
    public_raw = base64.b64decode(stack.env["WENZHEN_JWT_PUBLIC_KEYS"].split(":", 1)[1])
    admin_claims = {**payload, "role": "admin"}

    # HS256 "signed" with the public key as the HMAC secret: the classic key-confusion attack
    hs_input = unsigned({**header, "alg": "HS256"}, admin_claims)
    hs_sig = b64(hmac.new(public_raw, hs_input.encode(), hashlib.sha256).digest())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    return {
        "alg none": unsigned({"alg": "none", "typ": "JWT"}, admin_claims) + ".",
        "alg None, signature kept": unsigned({**header, "alg": "None"}, admin_claims) + "." + genuine.split(".")[2],
        "HS256 with the public key (key confusion)": f"{hs_input}.{hs_sig}",
        "RS256 with the attacker's key": jwt.encode(admin_claims, rsa_key, algorithm="RS256",
                                                    headers={"kid": header["kid"]}),
        "expired": jwt.encode(claims_like(genuine, iat=now - 7200, nbf=now - 7200, exp=now - 3600),
                              signer.private_keys[signer.current], algorithm="EdDSA", headers={"kid": header["kid"]}),
        "wrong audience": jwt.encode(claims_like(genuine, aud="urn:someone-else:api"),
                                     signer.private_keys[signer.current], algorithm="EdDSA",
                                     headers={"kid": header["kid"]}),
        "wrong issuer": jwt.encode(claims_like(genuine, iss="urn:evil:identity"), signer.private_keys[signer.current],
                                   algorithm="EdDSA", headers={"kid": header["kid"]}),
        "tampered claims (role admin, signature kept)": unsigned(header, admin_claims) + "." + genuine.split(".")[2],
        "tampered claims (other patient, signature kept)":
            unsigned(header, {**payload, "pat": ["pat_somebody_else"]}) + "." + genuine.split(".")[2],
        "another Ed25519 key under the same kid": jwt.encode(admin_claims, Ed25519PrivateKey.generate(),
                                                             algorithm="EdDSA", headers={"kid": header["kid"]}),
        "unknown kid": jwt.encode(admin_claims, signer.private_keys[signer.current], algorithm="EdDSA",
                                  headers={"kid": "nope"}),
        "missing session claim": jwt.encode({k: v for k, v in payload.items() if k != "sid"},
                                            signer.private_keys[signer.current], algorithm="EdDSA",
                                            headers={"kid": header["kid"]}),
        "truncated": genuine[:-10],
        "not a JWT": "hello",
    }


def test_the_genuine_token_works(stack, victim, genuine):
    resp = stack.http.get(f"{stack.url}/v1/patients/{victim.id}", headers=stack.headers(genuine))
    assert resp.status_code == 200


def test_forged_tokens_are_refused_with_401(stack, victim, genuine, signer):
    forged = attacks(stack, genuine, signer)
    assert parts(genuine)[1]["aud"] == AUDIENCE and parts(genuine)[1]["iss"] == ISSUER
    outcomes = {}
    for name, token in forged.items():
        for path in (f"/v1/patients/{victim.id}", "/v1/audit-events", "/v1/me"):
            resp = stack.http.get(stack.url + path, headers=stack.headers(token))
            outcomes[(name, path)] = resp.status_code
            assert resp.headers["Content-Type"].startswith("application/problem+json")
            assert "Bearer" in resp.headers.get("WWW-Authenticate", "")
    assert set(outcomes.values()) == {401}, {k: v for k, v in outcomes.items() if v != 401}
    assert len(outcomes) == len(forged) * 3


def test_a_token_on_a_public_route_must_still_be_valid(stack, genuine, signer):
    forged = attacks(stack, genuine, signer)["alg none"]
    assert stack.http.get(stack.url + "/v1/privacy-notice", headers=stack.headers(forged)).status_code == 401
    assert stack.http.get(stack.url + "/v1/privacy-notice").status_code == 200


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc"])
def test_malformed_authorization_headers_are_401(stack, victim, header):
    resp = stack.http.get(f"{stack.url}/v1/patients/{victim.id}", headers={"Authorization": header})
    assert resp.status_code == 401


def test_no_token_is_401_and_the_jwks_publishes_only_public_keys(stack, victim):
    assert stack.http.get(f"{stack.url}/v1/patients/{victim.id}").status_code == 401
    keys = stack.http.get(stack.url + "/.well-known/jwks.json").json()["keys"]
    assert [k["alg"] for k in keys] == ["EdDSA"] and all(set(k) == {"kty", "crv", "use", "alg", "kid", "x"}
                                                          for k in keys)
