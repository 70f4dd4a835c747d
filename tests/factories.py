"""Test data made through the public API, as a client would make it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

PASSWORD = "correct horse battery"


@dataclass
class TestUser:
    __test__ = False  # a data holder, not a test class

    id: str
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register_user(
    client: httpx.AsyncClient, *, name: str = "Test", password: str = PASSWORD
) -> TestUser:
    email = f"{name.lower()}-{uuid.uuid4().hex[:10]}@example.com"
    created = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "name": name}
    )
    assert created.status_code == 201, created.text
    token = await login(client, email, password)
    return TestUser(id=created.json()["id"], email=email, password=password, token=token)


async def login(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await client.post(
        "/api/v1/auth/token", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def make_api_key(
    client: httpx.AsyncClient, user: TestUser, scopes: list[str], rate_limit: int | None = None
) -> str:
    body: dict = {"name": "test key", "scopes": scopes}
    if rate_limit is not None:
        body["rate_limit_per_minute"] = rate_limit
    response = await client.post("/api/v1/users/me/api-keys", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()["key"]
