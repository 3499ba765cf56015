"""The event bus and its SSE encoding: ordered sequence numbers, replay from history, slow
readers lose events instead of growing memory, and shutdown ends every stream."""
from __future__ import annotations

import asyncio
import json
import threading

from gwf.service import sse
from gwf.service.events import EventBus


async def _never() -> bool:
    return False


async def _collect(bus: EventBus, **options) -> list[dict]:
    out = []
    async for chunk in sse.stream(bus, disconnected=_never, **options):
        for line in chunk.splitlines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
    return out


def test_events_from_many_threads_arrive_once_each_in_sequence_order() -> None:
    bus = EventBus(keep=10_000)

    async def scenario() -> list[dict]:
        reader = asyncio.create_task(_collect(bus, since=None, limit=400, wait=10))
        await asyncio.sleep(0.05)  # the reader subscribes first
        threads = [threading.Thread(target=lambda k=k: [bus.publish("job", {"thread": k, "n": n}) for n in range(100)]) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return await reader

    events = asyncio.run(scenario())
    assert [e["seq"] for e in events] == list(range(1, 401))
    for k in range(4):
        assert [e["data"]["n"] for e in events if e["data"]["thread"] == k] == list(range(100))


def test_replay_starts_after_the_given_sequence_number_and_history_is_bounded() -> None:
    bus = EventBus(keep=5)
    for n in range(8):
        bus.publish("job", {"n": n})
    assert [e.seq for e in bus.since(0)] == [4, 5, 6, 7, 8]  # only the last five are kept
    replayed = asyncio.run(_collect(bus, since=6, limit=None, wait=0.05))
    assert [e["seq"] for e in replayed] == [7, 8]


def test_a_reader_that_never_reads_loses_events_not_memory() -> None:
    bus = EventBus()

    async def scenario() -> tuple[int, int]:
        sub = bus.subscribe()
        for n in range(sub.queue.maxsize + 50):
            bus.publish("job", {"n": n})
        await asyncio.sleep(0.05)  # let the loop deliver
        return sub.queue.qsize(), sub.dropped

    size, dropped = asyncio.run(scenario())
    assert size == 2000 and dropped == 50


def test_closing_the_bus_ends_open_streams_and_streams_opened_later() -> None:
    bus = EventBus()

    async def scenario() -> tuple[list[dict], list[dict]]:
        open_stream = asyncio.create_task(_collect(bus, since=None, limit=None, wait=None))
        await asyncio.sleep(0.05)
        bus.publish("job", {"n": 1})
        await asyncio.sleep(0.05)
        bus.close()
        first = await asyncio.wait_for(open_stream, 5)
        later = await asyncio.wait_for(_collect(bus, since=None, limit=None, wait=None), 5)
        return first, later

    first, later = asyncio.run(scenario())
    assert [e["data"] for e in first] == [{"n": 1}] and later == []
