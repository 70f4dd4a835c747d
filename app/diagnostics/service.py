"""The database's health as the app needs it: the engine and its capabilities, the declared
indexes against those present, document counts and migrations. The same facts for the CLI
(`genstore doctor`) and for administrators over HTTP.

Raw driver: it lists indexes and counts documents of every collection, GridFS included, not
only those a document model describes.
"""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel

from app import database
from app.diagnostics.schemas import (
    CollectionCount,
    DoctorReport,
    EngineRead,
    IndexState,
    MigrationRead,
)
from app.migrations.runner import status as migration_status


def _keys(spec: Any) -> str:
    return ", ".join(f"{field}: {direction}" for field, direction in dict(spec).items())


def _stored_keys(spec: Any) -> str:
    """The keys as the server lists them: a text index's text fields become `_fts: text,
    _ftsx: 1` (which fields it covers is in its `weights`)."""
    keys: dict[str, Any] = {}
    for field, direction in dict(spec).items():
        if direction == "text":
            keys.update({"_fts": "text", "_ftsx": 1})
        else:
            keys[field] = direction
    return _keys(keys)


async def _index_states(declared: dict[str, list[IndexModel]]) -> list[IndexState]:
    db = database.get_db()
    existing_collections = set(await db.list_collection_names())
    states: list[IndexState] = []
    for collection in sorted(set(declared) | existing_collections):
        present: dict[str, str] = {}
        if collection in existing_collections:
            async for index in await db[collection].list_indexes():
                if index["name"] != "_id_":
                    present[_keys(index["key"])] = index["name"]
        wanted = {
            _stored_keys(model.document["key"]): model.document["name"]
            for model in declared.get(collection, [])
        }
        for keys, name in wanted.items():
            state = "present" if keys in present else "missing"
            states.append(IndexState(collection=collection, name=name, keys=keys, state=state))
        for keys, name in present.items():
            if keys not in wanted:
                states.append(
                    IndexState(collection=collection, name=name, keys=keys, state="unexpected")
                )
    return states


async def diagnose() -> DoctorReport:
    connection = database.current()
    profile = connection.engine
    engine = EngineRead(
        name=profile.name,
        version=profile.version,
        wire_version=profile.wire_version,
        capabilities=profile.capabilities,
        duplicate_codes=profile.duplicate_codes,
        notes=profile.notes,
        pool_size=connection.client.options.pool_options.max_pool_size,
    )
    indexes = await _index_states(database.declared_indexes())
    db = database.get_db()
    collections = [
        CollectionCount(collection=name, documents=await db[name].count_documents({}))
        for name in sorted(await db.list_collection_names())
    ]
    migrations = [
        MigrationRead(id=m.id, description=m.description, state=m.state)
        for m in await migration_status(db)
    ]
    healthy = all(i.state != "missing" for i in indexes) and all(
        m.state == "applied" for m in migrations
    )
    return DoctorReport(
        engine=engine,
        indexes=indexes,
        collections=collections,
        migrations=migrations,
        healthy=healthy,
    )
