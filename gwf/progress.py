"""One progress display for every long command: a rich bar on stderr (stdout stays clean for --json)."""
from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextlib.contextmanager
def progress_bar(label: str, total: float, quiet: bool = False) -> Iterator[Callable[[float], None]]:
    """Yields `advance(n)`; draws nothing when quiet or when stderr is not a terminal-like sink."""
    if quiet:
        yield lambda n: None
        return
    console = Console(file=sys.stderr)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


@contextlib.contextmanager
def fraction_bar(label: str, quiet: bool = False) -> Iterator[Callable[[float, str], None]]:
    """Yields `update(fraction, message)` for work that reports progress as a fraction."""
    if quiet:
        yield lambda fraction, message="": None
        return
    console = Console(file=sys.stderr)
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn()]
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(label, total=1.0)
        yield lambda fraction, message="": progress.update(task, completed=fraction, description=f"{label}: {message}" if message else label)
