"""Registration, login, tokens, verification and password reset over HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from tests.conftest import EXTERNAL_ISSUER
from tests.factories import PASSWORD, TestUser, login, register_user
from tests.racing import ROUNDS, Racers

HASH_PATTERN = re.compile(r"\$argon2|password_hash|key_hash|token_hash")


def _email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


async def _user_count(app: FastAPI) -> int:
    from documents.user import User

    return await User.get_pymongo_collection().count_documents({})


async def test_register_returns_the_user_without_secrets(client: httpx.AsyncClient) -> None:
    email = _email()
    response = await client.post(
        "/api/v1/auth/register",
        json={
            "email": email.upper(),
            "password": PASSWORD,
            "name": "Ada",
            "birthdate": "2015-04-01",
        },
    )
    assert response.status_code == 201
    user = response.json()
    assert user["email"] == email  # stored lowercased
    assert user["name"] == "Ada" and user["birthdate"] == "2015-04-01"
    assert user["roles"] == [] and user["email_verified"] is False
    assert re.fullmatch(r"[0-9a-f]{24}", user["id"])
    assert user["created_at"].endswith("Z")
    assert user["settings"]["notifications"] == {"email": True, "product": False}
    assert not HASH_PATTERN.search(response.text)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "short@example.com", "password": "seven77"},
        {"email": "long@example.com", "password": "x" * 1025},
        {"email": {"$ne": None}, "password": PASSWORD},
        {"email": ["a@example.com"], "password": PASSWORD},
        {"email": "ok@example.com", "password": {"$gt": ""}},
        {"email": "ok@example.com", "password": PASSWORD, "roles": ["admin"]},
    ],
)
async def test_bad_registrations_are_422_and_change_nothing(
    client: httpx.AsyncClient, app: FastAPI, body: dict
) -> None:
    before = await _user_count(app)
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["errors"]
    assert await _user_count(app) == before


async def test_duplicate_email_in_any_case_is_409(client: httpx.AsyncClient, app: FastAPI) -> None:
    email = _email()
    first = await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert first.status_code == 201
    before = await _user_count(app)
    again = await client.post(
        "/api/v1/auth/register", json={"email": email.upper(), "password": PASSWORD}
    )
    assert again.status_code == 409
    assert again.json()["title"] == "Conflict"
    assert await _user_count(app) == before


async def test_login_and_me(client: httpx.AsyncClient, alice: TestUser) -> None:
    response = await client.post(
        "/api/v1/auth/token", data={"username": alice.email.upper(), "password": alice.password}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == alice.id and claims["exp"] > time.time()
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["email"] == alice.email


@pytest.mark.parametrize("password", ["wrong password", "x" * 5000])
async def test_bad_credentials_are_401(
    client: httpx.AsyncClient, alice: TestUser, password: str
) -> None:
    response = await client.post(
        "/api/v1/auth/token", data={"username": alice.email, "password": password}
    )
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    unknown = await client.post(
        "/api/v1/auth/token", data={"username": _email(), "password": PASSWORD}
    )
    assert unknown.status_code == 401


def _unsigned(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_missing_expired_forged_and_alg_none_tokens_are_401(
    client: httpx.AsyncClient, app: FastAPI, alice: TestUser
) -> None:
    secret = app.state.settings.secret_key
    now = int(time.time())
    expired = jwt.encode(
        {"sub": alice.id, "typ": "access", "exp": now - 10}, secret, algorithm="HS256"
    )
    forged = jwt.encode(
        {"sub": alice.id, "typ": "access", "exp": now + 600},
        "not-the-secret-but-long-enough-for-hs256",
        algorithm="HS256",
    )
    none = _unsigned({"sub": alice.id, "typ": "access", "exp": now + 600})
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {none}"},
        {"Authorization": f"Basic {alice.token}"},
    ):
        response = await client.get("/api/v1/users/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"]
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_token_accepted_once_is_refused_after_it_expires(
    client: httpx.AsyncClient, app: FastAPI, alice: TestUser
) -> None:
    """Verified tokens are remembered until their `exp`, never beyond it."""
    expires = time.time() + 1.5
    token = jwt.encode(
        {"sub": alice.id, "typ": "access", "exp": expires},
        app.state.settings.secret_key,
        algorithm="HS256",
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
    assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.1)
    refused = await client.get("/api/v1/users/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The token has expired."


async def test_rs256_with_the_hmac_secret_is_rejected(
    client: httpx.AsyncClient, app: FastAPI, alice: TestUser
) -> None:
    # Algorithm confusion: the app's RS256 public key used as an HS256 secret must not verify.
    public_pem = app.state.settings.external_jwt_public_key.encode()
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    payload = base64.urlsafe_b64encode(
        json.dumps({"sub": alice.id, "typ": "access", "exp": int(time.time()) + 600}).encode()
    ).rstrip(b"=")
    import hashlib
    import hmac

    signature = base64.urlsafe_b64encode(
        hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest()
    ).rstrip(b"=")
    token = b".".join([header, payload, signature]).decode()
    response = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_email_verification_token_is_single_use(
    client: httpx.AsyncClient, app: FastAPI, alice: TestUser
) -> None:
    sent = app.state.mail_sender.sent
    response = await client.post("/api/v1/auth/request-verify", headers=alice.headers)
    assert response.status_code == 202
    mail = sent[-1]
    assert mail.to == alice.email
    token = mail.text.rsplit(" ", 1)[-1]
    from documents.outbox import OutboxMessage

    stored = await OutboxMessage.get_pymongo_collection().find_one({"to": alice.email})
    assert stored is not None and token not in json.dumps(stored, default=str)
    verified = await client.post("/api/v1/auth/verify", json={"token": token})
    assert verified.status_code == 200 and verified.json()["email_verified"] is True
    again = await client.post("/api/v1/auth/verify", json={"token": token})
    assert again.status_code == 400
    bad = await client.post("/api/v1/auth/verify", json={"token": {"$ne": None}})
    assert bad.status_code == 422


async def test_forgot_password_is_202_either_way_and_reset_works_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await register_user(client, name="Reset")
    sent = app.state.mail_sender.sent
    before = len(sent)
    unknown = await client.post("/api/v1/auth/forgot-password", json={"email": _email()})
    assert unknown.status_code == 202 and len(sent) == before
    known = await client.post("/api/v1/auth/forgot-password", json={"email": user.email})
    assert known.status_code == 202 and len(sent) == before + 1
    assert unknown.json() == known.json()
    token = sent[-1].text.rsplit(" ", 1)[-1]
    short = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "short"}
    )
    assert short.status_code == 422
    reset = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "a brand new password"}
    )
    assert reset.status_code == 200
    old = await client.post(
        "/api/v1/auth/token", data={"username": user.email, "password": user.password}
    )
    assert old.status_code == 401
    assert await login(client, user.email, "a brand new password")
    reused = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "yet another password"}
    )
    assert reused.status_code == 400


def _external_token(key: rsa.RSAPrivateKey, sub: str, **claims) -> str:
    body = {"iss": EXTERNAL_ISSUER, "sub": sub, "exp": int(time.time()) + 600, **claims}
    return jwt.encode(body, key, algorithm="RS256")


async def test_external_idp_first_logins_create_one_user(
    racers: Racers, idp_private_key: rsa.RSAPrivateKey
) -> None:
    """`ROUNDS` rounds of 10 concurrent first requests with a new identity, over separate app
    processes and connections: no 5xx, one identity and one user per round."""
    from documents.user import ExternalIdentity, User

    for _round in range(ROUNDS):
        sub = f"idp-user-{uuid.uuid4().hex}"
        email = _email()
        token = _external_token(idp_private_key, sub, email=email, name="Ext")
        headers = {"Authorization": f"Bearer {token}"}
        responses = await racers.race(
            [lambda http, h=headers: http.get("/api/v1/users/me", headers=h)] * 10
        )
        assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        assert responses[0].json()["email"] == email
        assert await User.get_pymongo_collection().count_documents({"email": email}) == 1
        identities = ExternalIdentity.get_pymongo_collection()
        assert await identities.count_documents({"issuer": EXTERNAL_ISSUER, "sub": sub}) == 1


async def test_racing_registrations_of_one_email_create_one_account(racers: Racers) -> None:
    """`ROUNDS` rounds of 10 concurrent registrations of one new email (in other letter cases
    too), over separate app processes and connections: one 201 and nine 409 per round, one
    user."""
    from documents.user import User

    for _round in range(ROUNDS):
        email = _email()
        spellings = [email, email.upper(), email.capitalize()]
        responses = await racers.race(
            [
                lambda http, e=spellings[i % 3]: http.post(
                    "/api/v1/auth/register", json={"email": e, "password": PASSWORD}
                )
                for i in range(10)
            ]
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 9, [r.text for r in responses]
        assert await User.get_pymongo_collection().count_documents({"email": email}) == 1


async def test_external_tokens_with_wrong_issuer_or_key_are_401(
    client: httpx.AsyncClient, idp_private_key: rsa.RSAPrivateKey
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong_key = _external_token(other_key, "someone")
    wrong_issuer = jwt.encode(
        {"iss": "https://evil.test/", "sub": "x", "exp": int(time.time()) + 600},
        idp_private_key,
        algorithm="RS256",
    )
    expired = _external_token(idp_private_key, "someone", exp=int(time.time()) - 5)
    for token in (wrong_key, wrong_issuer, expired):
        response = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401
