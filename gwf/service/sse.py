"""The live feed as Server-Sent Events: replay what the client missed, then stream, with a
keep-alive comment so proxies keep the connection open."""
from __future__ import annotations

import asyncio
import json
import time
from typing import AsyncIterator, Awaitable, Callable

from gwf.service.events import Event, EventBus

KEEPALIVE_S = 15.0


def encode(event: Event) -> str:
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {json.dumps(event.to_dict(), separators=(',', ':'))}\n\n"


async def stream(
    bus: EventBus, *, since: int | None, limit: int | None, wait: float | None,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    """Events after `since` (None: only new ones); ends after `limit` events, after `wait`
    seconds, when the client leaves, or when the server shuts down."""
    subscription = bus.subscribe()  # before reading the backlog, so nothing falls in between
    deadline = time.monotonic() + wait if wait is not None else None
    try:
        yield "retry: 2000\n\n"
        last = bus.last_seq if since is None else since
        sent = 0
        for event in bus.since(last) if since is not None else []:
            yield encode(event)
            last, sent = event.seq, sent + 1
            if limit is not None and sent >= limit:
                return
        while True:
            remaining = deadline - time.monotonic() if deadline is not None else KEEPALIVE_S
            if remaining <= 0:
                return
            try:
                event = await asyncio.wait_for(subscription.queue.get(), timeout=min(KEEPALIVE_S, remaining))
            except asyncio.TimeoutError:
                if await disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            if event is None:
                return
            if event.seq <= last:
                continue  # already sent from the backlog
            yield encode(event)
            last, sent = event.seq, sent + 1
            if limit is not None and sent >= limit:
                return
    finally:
        bus.unsubscribe(subscription)
