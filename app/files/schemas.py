from __future__ import annotations

from pydantic import BaseModel

from app.folders.schemas import PlacementIn, PlacementRead
from app.schemas import IdStr, Keep, ResourceRead, ShortText


class FileLinksRead(BaseModel):
    workflow_id: IdStr | None = None
    drawing_id: IdStr | None = None
    conversation_id: IdStr | None = None
    generation_id: IdStr | None = None
    site_id: IdStr | None = None


class FileRead(ResourceRead, PlacementRead):
    filename: str
    content_type: str
    size: int
    sha256: str
    kind: str | None
    links: FileLinksRead
    keep: bool = False


class FilePatch(PlacementIn):
    not_null = ("filename", "keep", "tags", "pinned")
    filename: ShortText | None = None
    keep: Keep = None
