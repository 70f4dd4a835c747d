from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from app.auth.dependencies import Access, CurrentUser
from app.conversations import service
from app.conversations.schemas import (
    BulkRequest,
    BulkResult,
    ConversationCreate,
    ConversationPatch,
    ConversationRead,
    ForkRequest,
    MessageCreate,
    MessagePatch,
    MessageRead,
)
from app.folders.placement import PlacementQuery
from app.openapi import LEGAL_HOLD, problems
from app.pagination import Page, Pagination
from app.routing import AreaRouter
from app.schemas import ObjectIdIn, Permanent

router = AreaRouter(prefix="/conversations", tags=["conversations"], access=Access("conversations"))


@router.post(
    "",
    operation_id="conversations_create",
    status_code=status.HTTP_201_CREATED,
    response_model=ConversationRead,
)
async def create_conversation(body: ConversationCreate, user: CurrentUser):
    return await service.create_conversation(user, body)


@router.get("", operation_id="conversations_list", response_model=Page[ConversationRead])
async def list_conversations(
    user: CurrentUser,
    params: Pagination,
    placed: PlacementQuery,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    project_id: Annotated[ObjectIdIn | None, Query()] = None,
    archived: bool = False,
    temporary: bool = False,
):
    """Pinned first, then newest activity first. `q` matches the title and message text,
    case-insensitively and literally (`/search` ranks, and finds words across accents).
    Archived conversations are listed only with `archived=true`, temporary ones only (and
    alone) with `temporary=true`."""
    return await service.list_conversations(
        user,
        params,
        q=q,
        project_id=project_id,
        archived=archived,
        temporary=temporary,
        placed=placed,
    )


@router.post("/bulk", operation_id="conversations_bulk", response_model=BulkResult)
async def bulk_action(body: BulkRequest, user: CurrentUser) -> BulkResult:
    """Ids the caller does not own are ignored, never touched."""
    return BulkResult(done=await service.bulk_action(user, body))


@router.get("/{conversation_id}", operation_id="conversations_get", response_model=ConversationRead)
async def get_conversation(conversation_id: str, user: CurrentUser):
    return await service.get_conversation(user, conversation_id)


@router.patch(
    "/{conversation_id}", operation_id="conversations_update", response_model=ConversationRead
)
async def update_conversation(conversation_id: str, body: ConversationPatch, user: CurrentUser):
    return await service.update_conversation(user, conversation_id, body)


@router.delete(
    "/{conversation_id}",
    operation_id="conversations_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=LEGAL_HOLD,
)
async def delete_conversation(
    conversation_id: str, user: CurrentUser, permanent: Permanent = False
) -> Response:
    await service.delete_conversation(user, conversation_id, permanent=permanent)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{conversation_id}/messages",
    operation_id="messages_append",
    responses=problems((410, "The conversation has expired")),
    status_code=status.HTTP_201_CREATED,
    response_model=MessageRead,
)
async def append_message(conversation_id: str, body: MessageCreate, user: CurrentUser):
    return await service.append_message(user, conversation_id, body)


@router.get(
    "/{conversation_id}/messages", operation_id="messages_list", response_model=Page[MessageRead]
)
async def list_messages(
    conversation_id: str,
    user: CurrentUser,
    params: Pagination,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Only messages containing this text (case-insensitive, literal), in "
            "the whole history, newest first",
        ),
    ] = None,
    before: Annotated[
        int | None,
        Query(
            ge=1,
            le=2**62,
            deprecated=True,
            description="Deprecated, use `cursor`: only messages with a lower seq",
        ),
    ] = None,
):
    """Without `q`: the latest `limit` messages in seq order, `next_cursor` pages back.
    With `q`: the matching messages, newest first."""
    return await service.list_messages(user, conversation_id, params, q=q, before=before)


@router.patch(
    "/{conversation_id}/messages/{message_id}",
    operation_id="messages_edit",
    response_model=MessageRead,
)
async def edit_message(
    conversation_id: str, message_id: str, body: MessagePatch, user: CurrentUser
):
    return await service.edit_message(user, conversation_id, message_id, body.content)


@router.get(
    "/{conversation_id}/branch/{message_id}",
    operation_id="messages_branch",
    response_model=Page[MessageRead],
)
async def branch(conversation_id: str, message_id: str, user: CurrentUser):
    """The path from the root to the message, following `parent_id`."""
    _, path = await service.branch_messages(user, conversation_id, message_id)
    return Page(items=path)


@router.post(
    "/{conversation_id}/fork",
    operation_id="conversations_fork",
    status_code=status.HTTP_201_CREATED,
    response_model=ConversationRead,
)
async def fork(conversation_id: str, body: ForkRequest, user: CurrentUser):
    return await service.fork_conversation(user, conversation_id, body.message_id)
