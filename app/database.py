"""The one AsyncMongoClient of a process, and Beanie's initialisation on top of it.

Raw driver for index management only: indexes are created from the declared `IndexModel`s,
one per command where the engine needs it (`app/engine/`); Beanie's own index creation
is off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from beanie import init_beanie
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from app import embedded_server, engine
from app.observability import DB_POOL_SIZE, command_recorder
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
    engine: engine.EngineProfile
    pool_size: int | None  # None: the driver's default (100)


_current: Connection | None = None


async def connect(settings: Settings, *, create_indexes: bool = True) -> Connection:
    """Open the client and initialise Beanie. The short server-selection timeout makes a request
    fail fast (about 2 s) while the database is down; the driver reconnects by itself."""
    global _current
    url = resolve_url(settings)
    options = {
        "tz_aware": True,
        "serverSelectionTimeoutMS": settings.server_selection_timeout_ms,
        "connectTimeoutMS": settings.server_selection_timeout_ms,
        "appname": "genstore",
    }
    # The pool depends on the engine, so a one-connection client asks what the engine is first.
    probe: AsyncMongoClient = AsyncMongoClient(url, maxPoolSize=1, **options)
    try:
        profile = await engine.detect(probe)
    finally:
        await probe.close()
    engine.use(profile)
    pool_size = _pool_size(url, profile, settings.mongodb_pool_size)
    if pool_size is not None:
        options["maxPoolSize"] = pool_size
    client: AsyncMongoClient = AsyncMongoClient(url, event_listeners=[command_recorder], **options)
    DB_POOL_SIZE.set(client.options.pool_options.max_pool_size)
    db = client[settings.mongodb_db]
    await init_beanie(database=db, document_models=ALL_DOCUMENTS, skip_indexes=True)
    _current = Connection(client=client, db=db, engine=profile, pool_size=pool_size)
    if create_indexes:
        await ensure_indexes()
    return _current


def _pool_size(url: str, profile: engine.EngineProfile, requested: int | None) -> int | None:
    """A `maxPoolSize` in the URL wins; then `MONGODB_POOL_SIZE`; then the engine's choice."""
    from_url = re.search(r"[?&]maxPoolSize=(\d+)", url, re.IGNORECASE)
    if from_url:
        return int(from_url.group(1))
    return engine.pool_size(profile, requested)


def declared_indexes() -> dict[str, list[IndexModel]]:
    """Every index the code relies on, by collection: the documents' `Settings.indexes` and
    the GridFS bucket's, those the connected engine can build."""
    indexes: dict[str, list[IndexModel]] = {}
    for model in ALL_DOCUMENTS:
        settings = getattr(model, "Settings", None)
        declared = list(getattr(settings, "indexes", []) or [])
        if declared:
            indexes.setdefault(model.get_settings().name, []).extend(declared)
    for name, raw_indexes in RAW_COLLECTION_INDEXES.items():
        indexes.setdefault(name, []).extend(raw_indexes)
    # Only what the connected engine can build (text indexes are not on every engine).
    supported = {c: engine.supported_indexes(engine.profile(), i) for c, i in indexes.items()}
    return {c: i for c, i in supported.items() if i}


async def ensure_indexes(db: AsyncDatabase | None = None) -> None:
    """Create the declared indexes: one command per collection, or one per index where the
    engine cannot take a batch that mixes existing and new indexes (`app/engine/`)."""
    db = db if db is not None else get_db()
    batched = engine.profile().batched_create_indexes
    for collection, indexes in declared_indexes().items():
        if batched:
            await db[collection].create_indexes(indexes)
        else:
            for index in indexes:
                await db[collection].create_indexes([index])


async def disconnect() -> None:
    global _current
    if _current is not None:
        await _current.client.close()
        _current = None


def current() -> Connection:
    if _current is None:
        raise DatabaseNotConfigured("the database is not connected")
    return _current


def get_db() -> AsyncDatabase:
    if _current is None:
        raise DatabaseNotConfigured("the database is not connected")
    return _current.db
