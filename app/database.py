"""The one AsyncMongoClient of a process, and Beanie's initialisation on top of it."""

from __future__ import annotations

from dataclasses import dataclass

from beanie import init_beanie
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from app import embedded_server
from app.settings import Settings
from documents import ALL_DOCUMENTS, RAW_COLLECTION_INDEXES


class DatabaseNotConfigured(RuntimeError):
    pass


def resolve_url(settings: Settings) -> str:
    """`MONGODB_URL`, else the embedded server that `make run` started."""
    if settings.mongodb_url:
        return settings.mongodb_url
    url = embedded_server.recorded_url()
    if url is None:
        raise DatabaseNotConfigured(
            "MONGODB_URL is not set and no embedded server is running (start one with `make run`)"
        )
    return url


@dataclass
class Connection:
    client: AsyncMongoClient
    db: AsyncDatabase


_current: Connection | None = None


async def connect(settings: Settings, *, create_indexes: bool = True) -> Connection:
    """Open the client and initialise Beanie. The short server-selection timeout makes a request
    fail fast (about 2 s) while the database is down; the driver reconnects by itself."""
    global _current
    client: AsyncMongoClient = AsyncMongoClient(
        resolve_url(settings),
        tz_aware=True,
        serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
        connectTimeoutMS=settings.server_selection_timeout_ms,
        appname="genstore",
    )
    db = client[settings.mongodb_db]
    await init_beanie(database=db, document_models=ALL_DOCUMENTS, skip_indexes=not create_indexes)
    _current = Connection(client=client, db=db)
    if create_indexes:
        from app import storage

        for name, indexes in RAW_COLLECTION_INDEXES.items():
            await db[name].create_indexes(indexes)
        await storage.ensure_indexes()
    return _current


async def disconnect() -> None:
    global _current
    if _current is not None:
        await _current.client.close()
        _current = None


def get_db() -> AsyncDatabase:
    if _current is None:
        raise DatabaseNotConfigured("the database is not connected")
    return _current.db
