"""The one retry pause of the hardware layer: start short, double, stop growing at a cap.

Used for reopening a lost link (link_driver), repeating a Modbus request (modbus), re-sending
an unanswered frame (cellproto) and reconnecting to an OPC UA server (opcua): one rule, so a
fault costs every protocol the same bounded wait and a flapping device is not hammered.
"""
from __future__ import annotations

import asyncio

FIRST_S = 0.05


class Backoff:
    """Delays `first`, 2·first, 4·first, … capped at `cap`; `reset()` after a success."""

    def __init__(self, first: float = FIRST_S, cap: float = 2.0) -> None:
        if first <= 0:
            raise ValueError(f"backoff first delay {first}: must be > 0")
        self.first = first
        self.cap = max(first, cap)
        self.delay = first

    def grow(self) -> float:
        """The delay to wait now; the next one is twice as long, up to the cap."""
        current = self.delay
        self.delay = min(self.delay * 2, self.cap)
        return current

    def reset(self) -> None:
        self.delay = self.first

    async def sleep(self, deadline: float | None = None) -> None:
        """Wait the current delay (never past `deadline`, a loop time), then grow it."""
        delay = self.grow()
        if deadline is not None:
            delay = min(delay, max(0.0, deadline - asyncio.get_running_loop().time()))
        await asyncio.sleep(delay)


async def wait_until(event: asyncio.Event, deadline: float) -> bool:
    """Wait until `event` is set or the loop clock passes `deadline`; whether it is set (how a
    driver waits for its link to come back before it gives up on a job)."""
    if event.is_set():
        return True
    try:
        await asyncio.wait_for(event.wait(), max(0.0, deadline - asyncio.get_running_loop().time()))
    except asyncio.TimeoutError:
        return False
    return True
