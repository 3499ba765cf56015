"""A cell's calendar: its merged unavailability windows, with O(log n) questions about them."""
from __future__ import annotations

import bisect


def merged_windows(windows: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Windows merged as CellCalendar merges them, as (starts, ends); a single window, the
    common case (a lane's pinned work), is taken as it is, without the sort."""
    if len(windows) == 1:
        s, e = windows[0]
        return ([s], [e]) if e > s else ([], [])
    calendar = CellCalendar(windows)
    return calendar.starts, calendar.ends


def flat_windows(cells, merged: bool = False):
    """Each cell's windows as one flat run (lo, hi, w_s, w_e), cell c's being w_s/w_e[lo[c]:hi[c]]:
    as given, or merged (merged_windows: what the compiled dispatcher and projection read). A
    window not in whole seconds is a ValueError naming its cell; one past int64 an OverflowError."""
    import numpy as np

    lo = np.zeros(len(cells), np.int64)
    hi = np.zeros(len(cells), np.int64)
    w_s: list[int] = []
    w_e: list[int] = []
    for c, cell in enumerate(cells):
        if cell.unavailable:
            for s, e in cell.unavailable:  # an int64 would truncate it: the compiled passes read whole seconds only
                if not (isinstance(s, (int, np.integer)) and isinstance(e, (int, np.integer))):
                    raise ValueError(f"cell {cell.id}: unavailable window ({s!r}, {e!r}) is not in whole seconds (ints)")
            lo[c] = len(w_s)
            if merged:
                starts, ends = merged_windows(cell.unavailable)
                w_s.extend(starts)
                w_e.extend(ends)
            else:
                for s, e in cell.unavailable:
                    w_s.append(s)
                    w_e.append(e)
            hi[c] = len(w_s)
    return lo, hi, np.array(w_s, np.int64), np.array(w_e, np.int64)


class CellCalendar:
    __slots__ = ("starts", "ends")

    def __init__(self, windows: list[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for s, e in sorted(windows):
            if e <= s:
                continue
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def __bool__(self) -> bool:
        return bool(self.starts)

    def blocking(self, start: int, end: int) -> int:
        """Index of the first window overlapping [start, end), or -1."""
        i = bisect.bisect_right(self.ends, start)
        if i < len(self.starts) and self.starts[i] < end:
            return i
        return -1

    def earliest_fit(self, ready: int, duration: int) -> int:
        """First start >= ready at which `duration` seconds of work cross no window."""
        if duration <= 0:
            return ready
        start = ready
        while (w := self.blocking(start, start + duration)) >= 0:
            start = self.ends[w]
        return start

    def down_time(self, start: int, end: int) -> int:
        """Seconds of [start, end) the cell is unavailable."""
        return sum(max(0, min(e, end) - max(s, start)) for s, e in zip(self.starts, self.ends))
