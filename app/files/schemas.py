from __future__ import annotations

from pydantic import BaseModel

from app.schemas import IdStr, ResourceRead


class FileLinksRead(BaseModel):
    workflow_id: IdStr | None = None
    drawing_id: IdStr | None = None
    conversation_id: IdStr | None = None
    generation_id: IdStr | None = None
    site_id: IdStr | None = None


class FileRead(ResourceRead):
    filename: str
    content_type: str
    size: int
    sha256: str
    kind: str | None
    links: FileLinksRead
