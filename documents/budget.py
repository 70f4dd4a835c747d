"""Spend budgets and storage use: the counters a limit is checked against in one guarded update.

`SpendBudget` is one per owner and calendar month (UTC), plus one per API key and month:
`committed_micros` = `spent_micros` + `reserved_micros`, the one field a reservation's guard
reads, so "spent + reserved never exceeds the limit" is a single-document condition. Recorded
usage reaches `spent_micros` through the usage ledger's batch apply (`app/usage/rollups.py`,
with the same `batches` guard as the rollups); reservations move `reserved_micros`.

`Reservation` is one hold, deleted when it is settled, released or swept after expiry.

`StorageUse` is one per owner: `used_bytes` sums the sizes of the owner's blobs flagged
`metadata.counted` (one per distinct content), `committed_bytes` adds the bytes of uploads in
flight; uploads reserve before writing each chunk batch.
"""

from __future__ import annotations

from datetime import datetime

from beanie import PydanticObjectId
from pymongo import ASCENDING, IndexModel

from documents.base import OwnedDocument


class SpendBudget(OwnedDocument):
    noun = "budget"
    id: str  # type: ignore[assignment]  # "<owner>:<YYYY-MM>" or "<owner>:<YYYY-MM>:<key id>"
    month: str
    api_key_id: PydanticObjectId | None = None
    spent_micros: int = 0
    reserved_micros: int = 0
    committed_micros: int = 0
    batches: list[PydanticObjectId] = []

    class Settings:
        name = "spend_budgets"
        indexes = [IndexModel([("owner_id", ASCENDING), ("month", ASCENDING)], name="owner_month")]


class Reservation(OwnedDocument):
    noun = "reservation"
    month: str
    amount_micros: int
    api_key_id: PydanticObjectId | None = None
    model: str | None = None
    expires_at: datetime
    generation_id: PydanticObjectId | None = None

    class Settings:
        name = "reservations"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("expires_at", ASCENDING)], name="owner_expiry"),
            IndexModel([("expires_at", ASCENDING)], name="expiry"),
        ]


class StorageUse(OwnedDocument):
    noun = "storage use"
    id: str  # type: ignore[assignment]  # the owner id
    used_bytes: int = 0
    reserved_bytes: int = 0
    committed_bytes: int = 0

    class Settings:
        name = "storage_use"
