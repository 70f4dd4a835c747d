from __future__ import annotations

from typing import Annotated

from fastapi import Header
from fastapi.responses import StreamingResponse

from app.auth.dependencies import Access, CurrentUser, SettingsDep
from app.routing import AreaRouter
from app.streams import service

conversation_events = AreaRouter(
    prefix="/conversations", tags=["streams"], access=Access("conversations")
)
generation_events = AreaRouter(
    prefix="/generations", tags=["streams"], access=Access("generations")
)

SSE = {
    200: {
        "description": "Server-sent events",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
NO_BUFFERING = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)]


@conversation_events.get(
    "/{conversation_id}/events",
    operation_id="conversation_events_stream",
    response_class=StreamingResponse,
    responses=SSE,
)
async def conversation_stream(
    conversation_id: str,
    user: CurrentUser,
    settings: SettingsDep,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """Each appended message (`event: message`, `id: <seq>`) as it is acknowledged, and each
    edit (`event: message.edited`); with `Last-Event-ID` first every message after that seq.
    Heartbeats (`: heartbeat`) keep idle connections open."""
    after = service.last_event_id(last_event_id)
    oid, count = await service.open_conversation(user, conversation_id)
    stream = service.conversation_stream(user, oid, count if after is None else after, settings)
    return StreamingResponse(stream, media_type="text/event-stream", headers=NO_BUFFERING)


@generation_events.get(
    "/{generation_id}/events",
    operation_id="generation_events_stream",
    response_class=StreamingResponse,
    responses=SSE,
)
async def generation_stream(
    generation_id: str,
    user: CurrentUser,
    settings: SettingsDep,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """The status now and at each transition (`event: status`); closes after the final one."""
    after = service.last_event_id(last_event_id) or 0
    generation = await service.open_generation(user, generation_id)
    stream = service.generation_stream(user, generation, after, settings)
    return StreamingResponse(stream, media_type="text/event-stream", headers=NO_BUFFERING)
