from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, computed_field

from app.folders.schemas import PlacementIn, PlacementRead
from app.money import UsdIn, to_usd
from app.schemas import IdStr, JsonObject, Keep, ObjectIdIn, ResourceRead, StrictInput
from documents.conversation import MessageRole, MessageType

MAX_CONTENT_BYTES = 1024 * 1024


def _content_size(value: str) -> str:
    if len(value.encode()) > MAX_CONTENT_BYTES:
        raise ValueError(f"content is larger than {MAX_CONTENT_BYTES} bytes")
    if "\x00" in value:
        raise ValueError("content must not contain NUL characters")
    return value


Content = Annotated[str, StringConstraints(min_length=1), AfterValidator(_content_size)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TokenCount = Annotated[int, Field(ge=0, le=10**9)]


class ConversationCreate(StrictInput):
    title: Title | None = None
    project_id: ObjectIdIn | None = None
    site_id: ObjectIdIn | None = None
    context: JsonObject | None = None
    metadata: JsonObject | None = None
    expires_at: datetime | None = None
    temporary: bool = Field(
        default=False,
        description="Purged for good TEMPORARY_CHAT_HOURS after its last activity; listed only "
        "with `temporary=true`",
    )


class ConversationPatch(PlacementIn):
    not_null = ("archived", "keep", "tags", "pinned")
    keep: Keep = None
    title: Title | None = None
    context: JsonObject | None = None
    metadata: JsonObject | None = None
    archived: bool | None = None


class ForkOriginRead(BaseModel):
    conversation_id: IdStr
    message_id: IdStr


class ConversationSourceRead(BaseModel):
    kind: str
    id: str


class ConversationRead(ResourceRead, PlacementRead):
    title: str | None
    project_id: IdStr | None
    site_id: IdStr | None
    context: dict | None
    metadata: dict | None
    expires_at: datetime | None
    temporary: bool = False
    keep: bool = False
    archived: bool
    forked_from: ForkOriginRead | None = None
    source: ConversationSourceRead | None = None
    current_message_id: IdStr | None = None
    message_count: int
    last_message_at: datetime | None


class MessageUsageIn(StrictInput):
    """What producing the message cost; recorded once as a usage event (operation `chat`)."""

    provider: ModelName | None = None
    prompt_tokens: TokenCount
    completion_tokens: TokenCount
    cost_usd: UsdIn | None = None


class MessageCreate(StrictInput):
    role: MessageRole
    content: Content
    type: MessageType = "text"
    parent_id: ObjectIdIn | None = None
    model: ModelName | None = None
    usage: MessageUsageIn | None = None
    site_version: Annotated[int, Field(ge=1, le=10**9)] | None = None


class MessageUsageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    provider: str | None = None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_micros: int | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_usd(self) -> float | None:
        return None if self.cost_micros is None else to_usd(self.cost_micros)


class MessageRead(BaseModel):
    id: IdStr
    seq: int
    role: MessageRole
    content: str
    type: MessageType = "text"
    parent_id: IdStr | None = None
    model: str | None = None
    usage: MessageUsageRead | None = None
    site_version: int | None = None
    created_at: datetime
    edited_at: datetime | None = None
    reasoning: str | None = None
    status: str | None = None
    metadata: dict | None = None
    file_ids: list[IdStr] | None = None  # the owner's files it carries: GET /files/{id}


class MessagePatch(StrictInput):
    content: Content


class ForkRequest(StrictInput):
    message_id: ObjectIdIn


class BulkRequest(StrictInput):
    ids: list[ObjectIdIn] = Field(min_length=1, max_length=100)
    action: Literal["archive", "unarchive", "delete"]


class BulkResult(BaseModel):
    done: int
