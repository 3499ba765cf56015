"""A cell's calendar of times it cannot work, known ahead of the work: planned windows
(maintenance, shift breaks) and, for cells that fail on the wall clock, the failure/repair
cycle (independent of the work, so it can be drawn lazily as time advances)."""
from __future__ import annotations

import math
from typing import Iterator

from plant.spec import Window
from sim.streams import Stream

OFF = "off"  # planned
DOWN = "down"  # failed, in repair


def planned_windows(windows: list[Window]) -> Iterator[tuple[float, float]]:
    """[start, end) of every planned window in time order, forever for repeating ones."""
    one_offs = sorted((w.start, w.start + w.duration) for w in windows if w.every is None)
    repeating = [w for w in windows if w.every is not None]
    k = [0] * len(repeating)
    i = 0
    while True:
        candidates = [(w.start + k[j] * w.every, j) for j, w in enumerate(repeating)]
        nxt_rep = min(candidates) if candidates else (math.inf, -1)
        nxt_one = one_offs[i][0] if i < len(one_offs) else math.inf
        if nxt_rep[0] == math.inf and nxt_one == math.inf:
            return
        if nxt_one <= nxt_rep[0]:
            yield one_offs[i]
            i += 1
        else:
            j = nxt_rep[1]
            yield (nxt_rep[0], nxt_rep[0] + repeating[j].duration)
            k[j] += 1


def failure_windows(mttf: float, mttr: float, repair_cv: float, stream: Stream) -> Iterator[tuple[float, float]]:
    """Alternating up (exponential, mean mttf) and repair (mean mttr, cv repair_cv) periods."""
    t = 0.0
    while True:
        t += mttf * stream.exponential()
        repair = stream.scaled(mttr, repair_cv, "gamma")  # gamma with cv 1 is the exponential
        yield (t, t + repair)
        t += repair


class Calendar:
    """Merges a cell's sources of known unavailability. `block(now)` answers the one question the
    cell asks: am I blocked now (until when, why), and if not, when does the next block start?"""

    __slots__ = ("_sources", "_heads", "_kinds")

    def __init__(self, sources: list[tuple[str, Iterator[tuple[float, float]]]]) -> None:
        self._sources = [it for _, it in sources]
        self._kinds = [kind for kind, _ in sources]
        self._heads: list[tuple[float, float] | None] = [next(it, None) for it in self._sources]

    def block(self, now: float) -> tuple[float, float, str]:
        """(start, end, kind) of the window covering `now` (start <= now), or of the next one
        (start > now); (inf, inf, '') when nothing ever blocks again."""
        best = (math.inf, math.inf, "")
        for i, head in enumerate(self._heads):
            while head is not None and head[1] <= now:
                head = next(self._sources[i], None)
            self._heads[i] = head
            if head is None:
                continue
            if head[0] <= now:
                # Covered: report the window that frees the cell last among those covering now,
                # so the cell sleeps once; another source's later window is found next time.
                if best[0] > now or head[1] > best[1]:
                    best = (head[0], head[1], self._kinds[i])
            elif best[0] > now and head[0] < best[0]:
                best = (head[0], head[1], self._kinds[i])
        return best

    def __bool__(self) -> bool:
        return bool(self._sources)
