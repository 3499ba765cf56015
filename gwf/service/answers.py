"""Answers to read requests kept as the exact JSON bytes sent, so a repeated read (a dashboard
polling, a hundred clients on one plan) costs a dictionary look-up instead of a database read,
a filter over tens of thousands of assignments and a pydantic validation and serialisation.

A stored plan never changes, so what is computed from one plan is kept until the plan is
stored again (`forget`) or falls out of the byte budget (least recently used first). The plan
list does change (plans are added, by this server or another on the same database): it is
kept `LIST_TTL_S` at most, and forgotten at once when this server stores a plan."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable

from pydantic import TypeAdapter

# Plans made by another server sharing the database appear in the list within this long.
LIST_TTL_S = 1.0
DEFAULT_BUDGET = 64 << 20  # bytes of answers kept; a page of 1,000 assignments is ~110 kB


class AnswerCache:
    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._answers: OrderedDict[tuple[str, Hashable], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._list: tuple[float, bytes] | None = None
        self._list_forgotten = float("-inf")

    def get(self, plan_id: str, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._answers.get((plan_id, key))
            if body is not None:
                self._answers.move_to_end((plan_id, key))
            return body

    def put(self, plan_id: str, key: Hashable, body: bytes) -> None:
        if len(body) > self.budget // 4:  # one huge page must not push out every other answer
            return
        with self._lock:
            old = self._answers.pop((plan_id, key), None)
            self._size += len(body) - (len(old) if old is not None else 0)
            self._answers[(plan_id, key)] = body
            while self._size > self.budget:
                _, dropped = self._answers.popitem(last=False)
                self._size -= len(dropped)

    def forget(self, plan_id: str) -> None:
        """The plan was (re)stored: its answers and the plan list are out of date."""
        with self._lock:
            for key in [k for k in self._answers if k[0] == plan_id]:
                self._size -= len(self._answers.pop(key))
            self._list, self._list_forgotten = None, time.monotonic()

    def plan_list(self) -> bytes | None:
        with self._lock:
            if self._list is not None and time.monotonic() - self._list[0] < LIST_TTL_S:
                return self._list[1]
            return None

    def keep_plan_list(self, body: bytes, read_at: float) -> None:
        """`read_at`: monotonic time the list was read (before the read): a plan stored while it
        was being read forgets the list, and an older read never replaces a newer one."""
        with self._lock:
            if read_at > self._list_forgotten and (self._list is None or self._list[0] <= read_at):
                self._list = (read_at, body)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def to_json(model: Any, value: Any) -> bytes:
    """`value` checked against the route's response model and written as FastAPI would."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS.setdefault(model, TypeAdapter(model))
    return adapter.dump_json(adapter.validate_python(value), by_alias=True)


def cached(cache: AnswerCache, plan_id: str, key: Hashable, compute: Callable[[], bytes]) -> bytes:
    body = cache.get(plan_id, key)
    if body is None:
        body = compute()
        cache.put(plan_id, key, body)
    return body
