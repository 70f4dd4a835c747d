"""The account: profile and settings, API keys, data export and deletion."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from beanie import UpdateResponse
from bson import ObjectId

from app import storage
from app.auth.scoping import owned
from app.auth.security import new_api_key, sha256_hex, verify_password
from app.dump import owned_json_lines
from app.errors import NotFound, Unauthorized
from app.lifecycle import service as lifecycle
from app.pagination import CursorParams, Page
from app.users.schemas import ApiKeyCreate, UserPatch
from app.zipstream import ZipWriter
from documents import OWNED_DOCUMENTS
from documents.api_key import ApiKey
from documents.base import utcnow
from documents.outbox import OutboxMessage
from documents.user import ExternalIdentity, User


def _flatten(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    """{"settings": {"theme": "dark"}} → {"settings.theme": "dark"}: a merging partial update."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            flat.update(_flatten(path, value))
        else:
            flat[path] = value
    return flat


async def update_profile(user: User, patch: UserPatch) -> User:
    changes = _flatten("", patch.model_dump(exclude_unset=True, mode="python"))
    changes.pop("settings", None)  # an empty settings object changes nothing
    changes.pop("settings.notifications", None)
    if "birthdate" in changes and changes["birthdate"] is not None:
        changes["birthdate"] = changes["birthdate"].isoformat()
    changes["updated_at"] = utcnow()
    updated = await User.find_one({"_id": user.id}).update(
        {"$set": changes}, response_type=UpdateResponse.NEW_DOCUMENT
    )
    if updated is None:
        raise NotFound("No such user.")
    return updated


async def create_api_key(user: User, body: ApiKeyCreate) -> tuple[ApiKey, str]:
    key, prefix = new_api_key()
    api_key = owned(ApiKey, user).new(
        name=body.name,
        prefix=prefix,
        key_hash=sha256_hex(key),
        scopes=body.scopes,
        rate_limit_per_minute=body.rate_limit_per_minute,
    )
    await api_key.insert()
    return api_key, key


async def list_api_keys(user: User, params: CursorParams) -> Page[ApiKey]:
    return await owned(ApiKey, user).list_page(params, extra={"revoked_at": None})


async def revoke_api_key(user: User, key_id: str) -> None:
    now = utcnow()
    await owned(ApiKey, user).update_or_404(
        key_id, {"$set": {"revoked_at": now, "updated_at": now}}, extra={"revoked_at": None}
    )


async def export_account(user: User) -> AsyncIterator[bytes]:
    """A ZIP of everything the user owns (the trash too): `user.json`, one JSON-lines file per
    owned collection (Extended JSON, so ids and dates round-trip), and `blobs/<sha256>` for
    every stored file."""
    owner = ObjectId(str(user.id))
    archive = ZipWriter()
    profile = user.model_dump(mode="json", exclude={"password_hash"})
    yield archive.add_bytes("user.json", json.dumps(profile, indent=2).encode())
    for model in OWNED_DOCUMENTS:
        name = f"collections/{model.get_settings().name}.jsonl"
        rows = owned_json_lines(owned(model, owner, trash="include"))
        async for part in archive.add_stream(name, rows):
            yield part
    for blob in await storage.owner_blobs(owner):
        async for part in archive.add_stream(
            f"blobs/{blob.sha256}", storage.open_blob(owner, blob.sha256)
        ):
            yield part
    yield archive.finish()


async def delete_account(user: User, password: str | None) -> None:
    """Delete everything the user owns, then the user. Ordered so that a crash part-way leaves
    the account in place and a second request finishes the job."""
    if user.password_hash is not None and not verify_password(password or "", user.password_hash):
        raise Unauthorized("The password is not correct.")
    await lifecycle.refuse_if_held(user, "deleting the account")
    owner = ObjectId(str(user.id))
    for model in OWNED_DOCUMENTS:
        await owned(model, owner, trash="include").delete_many()
    await storage.delete_owner_blobs(owner)
    await ExternalIdentity.find({"user_id": owner}).delete()
    await OutboxMessage.find({"user_id": owner}).delete()
    await User.find_one({"_id": owner}).delete()


async def user_by_email(email: str) -> User | None:
    return await User.find_one({"email": email.strip().lower()})


async def promote_to_admin(email: str) -> bool:
    promoted = await User.find_one({"email": email.strip().lower()}).update(
        {"$addToSet": {"roles": "admin"}, "$set": {"updated_at": utcnow()}},
        response_type=UpdateResponse.NEW_DOCUMENT,
    )
    return promoted is not None
