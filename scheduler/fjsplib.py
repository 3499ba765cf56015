"""FJSPLIB text format <-> Problem: the public flexible job-shop benchmarks, read in linear time.

Mapping: every machine is its own cell and its own pool (cell id "M<k>", k as numbered in the
file, from 1); job j (from 0, file order) is job id "<j>"; its operations are tasks with op ids
"0", "1", ... chained by precedence in file order.
"""
from __future__ import annotations

import re
from pathlib import Path

from scheduler.problem import Cell, Job, Pool, Problem, Task


class FjspFormatError(ValueError):
    """A malformed FJSPLIB file: one line naming the file line and what was expected there."""

    def __init__(self, line: int, message: str, source: str = "") -> None:
        self.line = line
        where = f"{source}: " if source else ""
        super().__init__(f"{where}line {line}: {message}")


def machine_id(machine: int) -> str:
    """Cell id of a machine numbered `machine` (from 1) in the file."""
    return f"M{machine}"


def machine_number(cell_id: str) -> int:
    """Inverse of machine_id: the machine as numbered in the file."""
    return int(cell_id[1:])


def read_fjsp(source: str | Path, name: str | None = None) -> Problem:
    """Parse FJSPLIB from a path or the text itself (text is recognised by containing a newline)."""
    if isinstance(source, Path) or ("\n" not in source and Path(source).is_file()):
        path = Path(source)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
        return _parse(text, name or path.stem, str(path))
    if "\n" not in source:
        raise ValueError(f"{source}: no such file")
    return _parse(source, name or "fjsp", "")


# A plain decimal integer of ASCII digits that fits 64 bits: int() would also take Unicode
# digits, underscores and thousands of digits (Python refuses those with its own message).
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)
# Longest operation time accepted, in the file's time unit: CP-SAT works in 64-bit integers and
# sums many times into one horizon, so absurd values are refused here rather than overflowing there.
MAX_TIME = 10**9


def _ints(tokens: list[str], line_no: int, what: str, source: str) -> list[int]:
    for tok in tokens:
        if not _INTEGER.fullmatch(tok):
            raise FjspFormatError(line_no, f"expected integers ({what}), found {tok[:20]!r}", source)
    return [int(tok) for tok in tokens]


def _parse(text: str, name: str, source: str) -> Problem:
    # Only non-blank lines carry data; keep their 1-based file line numbers for messages. Lines
    # are split on newlines only, so the numbers match what an editor shows.
    lines = [(i + 1, ln.split()) for i, ln in enumerate(text.split("\n")) if ln.strip()]
    if not lines:
        raise FjspFormatError(1, "expected a header '<jobs> <machines> [<average alternatives>]', found an empty file", source)
    header_no, header = lines[0]
    if len(header) < 2:
        raise FjspFormatError(header_no, "expected a header '<jobs> <machines> [<average alternatives>]'", source)
    n_jobs, n_machines = _ints(header[:2], header_no, "number of jobs and machines", source)
    if n_jobs < 1 or n_machines < 1:
        raise FjspFormatError(header_no, f"expected at least one job and one machine, found {n_jobs} jobs and {n_machines} machines", source)
    # Sizes are checked against what the file holds before anything is allocated for them.
    if len(lines) - 1 < n_jobs:
        last = lines[-1][0]
        raise FjspFormatError(last + 1, f"expected {n_jobs} job lines after the header, found {len(lines) - 1}", source)
    if len(lines) - 1 > n_jobs:
        raise FjspFormatError(lines[n_jobs + 1][0], f"expected end of file after {n_jobs} job lines", source)

    # Files may declare machines no operation uses (Brandimarte mk06 declares 15 and names 10),
    # so the count cannot be checked against the machines named; but a cell per machine must be
    # paid for by the file's own size, or a one-line header could ask for ten million of them.
    numbers = sum(len(tokens) for _, tokens in lines)
    if n_machines > numbers:
        raise FjspFormatError(header_no, f"expected at most {numbers} machines (one per number in the file), found {n_machines}", source)

    chains = [_job(j, line_no, tokens, n_machines, source) for j, (line_no, tokens) in enumerate(lines[1:])]
    cells = [Cell(machine_id(m + 1), m) for m in range(n_machines)]
    pools = [Pool(machine_id(m + 1), [m]) for m in range(n_machines)]
    jobs: list[Job] = []
    tasks: list[Task] = []
    horizon = 0
    for j, chain in enumerate(chains):
        job = Job(str(j))
        for o, modes in enumerate(chain):
            t = len(tasks)
            tasks.append(Task(j, str(o), list(modes.items()), [t - 1] if o else []))
            job.tasks.append(t)
            horizon += max(modes.values())
        jobs.append(job)
    return Problem(cells, pools, jobs, tasks, max(horizon, 1), name)


def _job(j: int, line_no: int, tokens: list[str], n_machines: int, source: str) -> list[dict[int, int]]:
    """One job line: per operation, machine index (from 0) -> time."""
    values = _ints(tokens, line_no, f"job {j}", source)
    n_ops, pos = values[0], 1
    if n_ops < 1:
        raise FjspFormatError(line_no, f"expected a positive number of operations for job {j}, found {n_ops}", source)
    chain: list[dict[int, int]] = []
    for o in range(n_ops):
        if pos >= len(values):
            raise FjspFormatError(line_no, f"expected operation {o} of job {j} (line ends after {o} of {n_ops})", source)
        k = values[pos]
        if k < 1:
            raise FjspFormatError(line_no, f"expected at least one alternative for job {j} operation {o}, found {k}", source)
        pairs = values[pos + 1 : pos + 1 + 2 * k]
        if len(pairs) < 2 * k:
            raise FjspFormatError(line_no, f"expected {k} (machine, time) pairs for job {j} operation {o}, line ends early", source)
        modes: dict[int, int] = {}
        for machine, duration in zip(pairs[::2], pairs[1::2]):
            if not 1 <= machine <= n_machines:
                raise FjspFormatError(line_no, f"expected a machine in 1..{n_machines} for job {j} operation {o}, found {machine}", source)
            if not 0 <= duration <= MAX_TIME:
                raise FjspFormatError(line_no, f"expected a time in 0..{MAX_TIME} for job {j} operation {o}, found {duration}", source)
            # A machine listed twice keeps its shorter time: that is the alternative a planner would pick.
            modes[machine - 1] = min(duration, modes.get(machine - 1, duration))
        pos += 1 + 2 * k
        chain.append(modes)
    if pos != len(values):
        raise FjspFormatError(line_no, f"expected end of line after {n_ops} operations of job {j}, found {len(values) - pos} more numbers", source)
    return chain


def write_fjsp(problem: Problem) -> str:
    """FJSPLIB text of a problem whose jobs are chains and whose pools each hold one cell.

    Machines are numbered by pool order from 1, so write_fjsp(read_fjsp(text)) reproduces the
    instance (up to whitespace and the average-alternatives figure)."""
    for p, pool in enumerate(problem.pools):
        if len(pool.cells) != 1:
            raise ValueError(f"pools[{p}] ({pool.name}): FJSPLIB needs one machine per pool, found {len(pool.cells)}")
    n_alternatives = sum(len(t.modes) for t in problem.tasks)
    out = [f"{len(problem.jobs)}\t{len(problem.pools)}\t{n_alternatives / max(1, len(problem.tasks)):g}"]
    for j, job in enumerate(problem.jobs):
        row = [str(len(job.tasks))]
        for i, t in enumerate(job.tasks):
            task = problem.tasks[t]
            expected = [job.tasks[i - 1]] if i else []
            if task.predecessors != expected:
                raise ValueError(f"jobs[{j}] ({job.id}): FJSPLIB needs each operation to follow the previous one only")
            row.append(str(len(task.modes)))
            row += [f"{pool + 1} {duration}" for pool, duration in task.modes]
        out.append(" ".join(row))
    return "\n".join(out) + "\n"
