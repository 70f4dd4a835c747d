from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthRead(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
