"""The floor: the database work each benchmarked request cannot avoid, issued directly with
PyMongo's async client from a minimal ASGI app (no validation, no framework, no auth
decoding: the caller's user id comes in a header and is looked up once, as authentication
must)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import Binary, ObjectId
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient, ReturnDocument

# The same pool the app uses on this engine (the bench passes the engine profile's choice).
client: AsyncMongoClient = AsyncMongoClient(
    os.environ["MONGODB_URL"],
    tz_aware=True,
    maxPoolSize=int(os.environ.get("MONGODB_POOL_SIZE") or 100),
)
db = client[os.environ["MONGODB_DB"]]
PROJECTED = bool(os.environ.get("FLOOR_PROJECTED"))
bucket = AsyncGridFSBucket(db, bucket_name="floor_blobs")


async def _body(receive: Any) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _json(send: Any, data: Any, status: int = 200) -> None:
    body = json.dumps(data, default=str).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _user(scope: dict) -> dict | None:
    user_id = dict(scope["headers"]).get(b"x-user", b"").decode()
    return await db.users.find_one({"_id": ObjectId(user_id)})


async def _counted(collection: Any, guard: dict, change: dict, total: str) -> int | None:
    """A guarded `$inc` under a limit, reading the new total back in the same command: what a
    store that notices the thresholds its counters cross (budget and storage events) must send,
    as the app does (one findAndModify, projected where the engine allows it)."""
    fields = {total: 1} if PROJECTED else None
    after = await collection.find_one_and_update(
        guard, change, projection=fields, return_document=ReturnDocument.AFTER
    )
    return None if after is None else after[total]


async def app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await client.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    parts = scope["path"].strip("/").split("/")
    if parts[0] == "healthz":
        await _json(send, {"status": "ok"})
        return
    user = await _user(scope)
    owner = user["_id"]
    now = datetime.now(UTC)
    if parts[0] == "me":
        await _json(send, {"id": owner, "email": user["email"]})
    elif parts[0] == "me-by-key":
        # An API key's use is counted on every request (`usage {count, last_used_at}`): the
        # key's findAndModify by its hash, besides the user's read.
        key = dict(scope["headers"]).get(b"x-api-key", b"")
        await db.api_keys.find_one_and_update(
            {"key_hash": hashlib.sha256(key).hexdigest(), "revoked_at": None},
            {"$inc": {"usage.count": 1}, "$set": {"usage.last_used_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        await _json(send, {"id": owner, "email": user["email"]})
    elif parts[0] == "reserve":
        # A reservation's work: one guarded `$inc` of the month's budget that reads the new
        # total back (created by the month's first hold), the reservation document. In the app's collections (their
        # indexes are part of each write's cost), under ids of the floor's own.
        await _body(receive)
        month, amount, limit = now.strftime("%Y-%m"), 10_000, 10**15
        budget = f"floor:{owner}:{month}"
        guard = {"owner_id": owner, "_id": budget, "committed": {"$lte": limit - amount}}
        hold = {"$inc": {"committed": amount, "reserved": amount}}
        if await _counted(db.spend_budgets, guard, hold, "committed") is None:
            first = {"_id": budget, "owner_id": owner, "month": month, "committed": 0}
            await db.spend_budgets.insert_one(first)
            await _counted(db.spend_budgets, guard, hold, "committed")
        expires = now + timedelta(minutes=10)
        held = {"owner_id": owner, "month": month, "amount_micros": amount, "expires_at": expires}
        await db.reservations.insert_one(held)
        await _json(send, {"id": held["_id"]}, status=201)
    elif parts[0] == "append":
        await _body(receive)
        message_id = ObjectId()
        # The same filter the app sends (owner, id, not expired): FerretDB's cost depends on it.
        raw = await db.conversations.find_one_and_update(
            {
                "owner_id": owner,
                "_id": ObjectId(parts[1]),
                "$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}],
            },
            {
                "$push": {
                    "messages": {
                        "id": message_id,
                        "role": "user",
                        "content": "hello",
                        "created_at": now,
                    }
                },
                "$inc": {"message_count": 1, "window_bytes": 261, "revision": 1},
                "$set": {
                    "last_message_at": now,
                    "activity_at": now,
                    "updated_at": now,
                    "current_message_id": message_id,
                },
            },
            return_document=ReturnDocument.AFTER,
        )
        await _json(send, {"seq": raw["message_count"]}, 201)
    elif parts[0] == "conversations":
        rows = (
            await db.conversations.find(
                {"owner_id": owner, "$and": [{"archived": False}]}, {"messages": 0}
            )
            .sort([("activity_at", -1), ("_id", -1)])
            .limit(21)
            .to_list()
        )
        await _json(send, {"items": rows[:20]})
    elif parts[0] == "manifest":
        site = await db.sites.find_one({"_id": ObjectId(parts[1]), "owner_id": owner})
        await _json(send, {"number": site["current_version"], "files": site["files"]})
    elif parts[0] == "commit":
        # A commit's work with what a store under a quota and a garbage collector must do: the
        # new blob registered (a lease row) before it is written and released once the version
        # references it, and its bytes counted by a guarded `$inc` (created by the first).
        data = await _body(receive)
        site = await db.sites.find_one(
            {"_id": ObjectId(parts[1]), "owner_id": owner}, {"versions": 0}
        )
        sha = parts[2]
        lease = {"owner_id": owner, "file_ids": [], "sha256s": [sha], "renewed_at": now}
        await db["blobs.uploads"].insert_one(lease)
        reused = await db["blobs.files"].update_one(
            {"metadata.owner_id": owner, "metadata.sha256": sha},
            {"$set": {"metadata.last_referenced_at": now}},
        )
        if not reused.matched_count:
            use, size, limit = f"floor:{owner}", len(data), 10**15
            guard = {"owner_id": owner, "_id": use, "committed_bytes": {"$lte": limit - size}}
            count = {"$inc": {"used_bytes": size, "committed_bytes": size}}
            if not (await db.storage_use.update_one(guard, count)).matched_count:
                first = {"_id": use, "owner_id": owner, "used_bytes": 0, "committed_bytes": 0}
                await db.storage_use.insert_one(first)
                await db.storage_use.update_one(guard, count)
            file_id = ObjectId()
            await db["blobs.chunks"].insert_many(
                [{"files_id": file_id, "n": 0, "data": Binary(data)}]
            )
            await db["blobs.files"].insert_one(
                {
                    "_id": file_id,
                    "length": len(data),
                    "chunkSize": 261120,
                    "uploadDate": now,
                    "metadata": {"owner_id": owner, "sha256": sha, "last_referenced_at": now},
                }
            )
        files = [f for f in site["files"] if f["path"] != "index.html"]
        files.append(
            {"path": "index.html", "sha256": sha, "size": len(data), "content_type": "text/html"}
        )
        number = site["current_version"] + 1
        await db.sites.update_one(
            {"_id": site["_id"], "owner_id": owner, "current_version": site["current_version"]},
            {
                "$set": {"files": files, "current_version": number},
                "$push": {
                    "versions": {
                        "number": number,
                        "changes": [{"path": "index.html", "op": "put", "sha256": sha}],
                        "created_at": now,
                    }
                },
            },
        )
        await db["blobs.uploads"].delete_one({"_id": lease["_id"]})
        await _json(send, {"number": number}, 201)
    elif parts[0] == "upload":

        async def chunks():
            while True:
                message = await receive()
                yield message.get("body", b"")
                if not message.get("more_body"):
                    return

        grid_in = bucket.open_upload_stream("upload", metadata={"owner_id": owner})
        async for chunk in chunks():
            await grid_in.write(chunk)
        await grid_in.close()
        await _json(send, {"id": grid_in._id}, 201)
    elif parts[0] == "download":
        grid_out = await bucket.open_download_stream(ObjectId(parts[1]))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(grid_out.length).encode())],
            }
        )
        while True:
            data = await grid_out.readchunk()
            if not data:
                break
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await _json(send, {"error": "no such floor"}, 404)
