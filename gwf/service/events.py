"""The live feed: a thread-safe bus that background jobs publish to and each Server-Sent-Events
client reads from its own asyncio queue. Keeps the last few hundred events so a client that
reconnects (Last-Event-ID) or arrives late still sees recent history."""
from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str  # "job" (status/progress of a background job) | "dispatch" (transitions of a dispatch run)
    at: str  # ISO-8601 UTC
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "at": self.at, "data": self.data}


@dataclass(eq=False)
class Subscription:
    """One reader's queue. A reader too slow to keep up loses events (counted in `dropped`)
    rather than letting the server's memory grow; it can re-read state from the API."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=2000))
    dropped: int = 0

    def offer(self, event: Event | None) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1


class EventBus:
    def __init__(self, keep: int = 500) -> None:
        self._lock = threading.Lock()
        self._recent: deque[Event] = deque(maxlen=keep)
        self._seq = 0
        self._subscribers: set[Subscription] = set()
        self._closed = False

    def publish(self, kind: str, data: dict[str, Any]) -> Event:
        """Callable from any thread; readers get the event on their own loop."""
        with self._lock:
            self._seq += 1
            event = Event(self._seq, kind, datetime.now(timezone.utc).isoformat(timespec="milliseconds"), data)
            self._recent.append(event)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, event)
            except RuntimeError:  # that reader's loop has closed; it is leaving anyway
                self.unsubscribe(sub)
        return event

    def since(self, seq: int) -> list[Event]:
        """Kept events with a sequence number above `seq`, oldest first."""
        with self._lock:
            return [e for e in self._recent if e.seq > seq]

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq

    def subscribe(self) -> Subscription:
        """Call from inside the reader's event loop."""
        sub = Subscription(asyncio.get_running_loop())
        with self._lock:
            if self._closed:  # a stream that starts during shutdown ends at once
                sub.offer(None)
            else:
                self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def close(self) -> None:
        """End every open stream (server shutdown)."""
        with self._lock:
            self._closed = True
            subscribers, self._subscribers = list(self._subscribers), set()
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, None)
            except RuntimeError:
                pass
