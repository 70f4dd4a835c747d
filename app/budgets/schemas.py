from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, computed_field

from app.money import UsdIn, to_usd_text
from app.schemas import IdStr, StrictInput


class ReservationCreate(StrictInput):
    amount_usd: UsdIn
    ttl_s: Annotated[int, Field(ge=1, le=3600)] = 300
    model: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


class ReservationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: IdStr = Field(validation_alias=AliasChoices("id", "_id"))
    amount_micros: int = Field(exclude=True)
    model: str | None = None
    expires_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def amount_usd(self) -> str:
        return to_usd_text(self.amount_micros)


class SpendRead(BaseModel):
    month: str
    limit_usd: str | None
    spent_usd: str
    reserved_usd: str
    remaining_usd: str | None
    resets_at: datetime


class StorageRead(BaseModel):
    limit_bytes: int | None
    used_bytes: int


class KeySpend(BaseModel):
    id: str
    name: str
    limit_usd: str | None
    spent_usd: str
    reserved_usd: str


class LimitsRead(BaseModel):
    """Money as exact decimal strings; null limits are unlimited."""

    spend: SpendRead
    storage: StorageRead
    keys: list[KeySpend]


class UserLimitsUpdate(StrictInput):
    """null: the default from settings."""

    monthly_spend_usd: UsdIn | None
    storage_bytes: Annotated[int, Field(ge=0, le=10**15)] | None


class ApiKeySpendUpdate(StrictInput):
    """null: no cap on this key."""

    monthly_spend_usd: UsdIn | None
