from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, Field, StringConstraints

from app.schemas import IdStr, ObjectIdIn, ResourceRead, StrictInput
from documents.conversation import MessageRole, MessageType
from documents.share import Share, ShareMode, ShareResource

Mode = ShareMode
Resource = ShareResource
Password = Annotated[str, StringConstraints(min_length=4, max_length=200)]
MaxViews = Annotated[int, Field(ge=1, le=1_000_000)]


class ShareLimits(StrictInput):
    expires_at: datetime | None = None
    max_views: MaxViews | None = None
    password: Password | None = None


class ConversationShareCreate(ShareLimits):
    mode: Mode
    up_to_message_id: ObjectIdIn | None = None


class SiteShareCreate(ShareLimits):
    mode: Mode
    version: Annotated[int, Field(ge=1, le=10**9)] | None = None


class SharePatch(ShareLimits):
    """`password: null` removes the password; a field left out is unchanged."""


class ShareRead(ResourceRead):
    token: str | None = Field(
        default=None, description="Shown once, when the share is made; null afterwards"
    )
    url: str | None = Field(default=None, description="`{PUBLIC_BASE_URL}/s/{token}`, once")
    resource: Resource
    resource_id: IdStr
    mode: Mode
    up_to_message_id: IdStr | None
    version: int | None
    expires_at: datetime | None
    max_views: int | None
    views: int
    has_password: bool
    revoked: bool

    @classmethod
    def of(cls, share: Share, *, token: str | None = None, base_url: str = "") -> Self:
        return cls.model_validate(
            {
                **share.model_dump(),
                "id": share.id,
                "token": token,
                "url": f"{base_url.rstrip('/')}/s/{token}" if token else None,
                "has_password": share.password_hash is not None,
                "revoked": share.revoked_at is not None,
            }
        )


class SharedMessageRead(BaseModel):
    id: IdStr
    role: MessageRole
    content: str
    type: MessageType
    parent_id: IdStr | None = None
    created_at: datetime
    edited_at: datetime | None = None


class SharedConversationRead(BaseModel):
    """What anyone with the link sees: no owner, no usage or cost, no metadata."""

    title: str | None
    mode: Mode
    shared_at: datetime
    messages: list[SharedMessageRead]
