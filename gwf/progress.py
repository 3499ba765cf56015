"""One progress display for every long command, always on stderr (stdout stays clean for --json):
a rich bar when stderr is a terminal, plain timestamped lines when it is piped or logged (a bar
drawn into a file shows nothing until the end, which is how `gwf schedule | tee` looked hung)."""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

LINE_EVERY_S = 2.0  # piped progress: at most one line this often (plus the first and the last)


def _terminal() -> bool:
    return sys.stderr.isatty()


class _Lines:
    """Progress as lines on stderr, throttled."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.began = time.monotonic()
        self.last = -LINE_EVERY_S
        self.last_text = ""
        self.first = True

    def emit(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if text == self.last_text or (not force and not self.first and now - self.last < LINE_EVERY_S):
            return
        self.last, self.last_text, self.first = now, text, False
        print(f"[{now - self.began:6.1f} s] {self.label}: {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def progress_bar(label: str, total: float, quiet: bool = False) -> Iterator[Callable[[float], None]]:
    """Yields `advance(n)`: a bar on a terminal, lines 'k/total' when piped; nothing when quiet."""
    if quiet:
        yield lambda n: None
        return
    if not _terminal():
        lines = _Lines(label)
        done = 0.0

        def advance(n: float) -> None:
            nonlocal done
            done += n
            lines.emit(f"{done:g}/{total:g}", force=done >= total or done == n)

        yield advance  # no line before the first step: bad input must stay a one-line error
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(file=sys.stderr), transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


@contextlib.contextmanager
def fraction_bar(label: str, quiet: bool = False) -> Iterator[Callable[[float, str], None]]:
    """Yields `update(fraction, message)` for work that reports progress as a fraction."""
    if quiet:
        yield lambda fraction, message="": None
        return
    if not _terminal():
        lines = _Lines(label)
        yield lambda fraction, message="": lines.emit(f"{fraction:4.0%}" + (f" {message}" if message else ""), force=fraction >= 1.0)
        return
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn()]
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task(label, total=1.0)
        yield lambda fraction, message="": progress.update(task, completed=fraction, description=f"{label}: {message}" if message else label)


def line_printer() -> Callable[[str], None]:
    """For work that reports whole steps (a sizing run, a sensitivity input): one stderr line each."""
    began = time.monotonic()
    return lambda message: print(f"[{time.monotonic() - began:6.1f} s] {message}", file=sys.stderr, flush=True)
