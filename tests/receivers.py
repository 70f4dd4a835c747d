"""A real HTTP receiver on loopback for webhook tests: it records every request and answers
the status codes it is told to, in order (then 200)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.embedded_server import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    answers: deque[int] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int, within: float = 20.0) -> list[Received]:
        async def enough() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), within)
        return self.received

    def unique(self) -> list[Received]:
        """What arrived, each `webhook-id` once (its first arrival): delivery is at least once,
        and on an engine that does not isolate updates across connections two processes can
        both send one delivery."""
        seen: dict[str, Received] = {}
        for received in self.received:
            seen.setdefault(received.headers["webhook-id"], received)
        return list(seen.values())

    async def wait_for_unique(self, count: int, within: float = 20.0) -> list[Received]:
        async def enough() -> None:
            while len(self.unique()) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), within)
        return self.unique()


async def start_receiver() -> tuple[Receiver, uvicorn.Server, asyncio.Task]:
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hook")

    async def hook(request: Request) -> Response:
        receiver.received.append(Received(dict(request.headers), await request.body()))
        receiver.arrived.set()
        status = receiver.answers.popleft() if receiver.answers else 200
        return Response(b"x" * 10_000 if status >= 500 else b"ok", status_code=status)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return receiver, server, task
