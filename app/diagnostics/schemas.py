"""What `genstore doctor` and `GET /api/v1/admin/engine` report."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class EngineRead(BaseModel):
    name: str
    version: str
    wire_version: int
    capabilities: dict[str, bool]
    duplicate_codes: str
    notes: list[str]
    pool_size: int


class IndexState(BaseModel):
    collection: str
    name: str
    keys: str
    state: Literal["present", "missing", "unexpected"]


class CollectionCount(BaseModel):
    collection: str
    documents: int


class MigrationRead(BaseModel):
    id: str
    description: str
    state: str


class DoctorReport(BaseModel):
    engine: EngineRead
    indexes: list[IndexState]
    collections: list[CollectionCount]
    migrations: list[MigrationRead]
    healthy: bool  # no index missing and no migration pending
