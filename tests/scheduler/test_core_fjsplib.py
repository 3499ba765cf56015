"""FJSPLIB reading and writing: round trips, and one clear line for each malformed file."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.fjsplib import FjspFormatError, read_fjsp, write_fjsp

TWO_JOBS = "2 3 1.5\n2 1 1 4 2 2 3 3 5\n1 1 3 2\n"


def test_reads_jobs_operations_and_machines_in_file_order():
    problem = read_fjsp(TWO_JOBS)
    assert [c.id for c in problem.cells] == ["M1", "M2", "M3"]
    assert [(problem.jobs[t.job].id, t.op, t.modes, t.predecessors) for t in problem.tasks] == [
        ("0", "0", [(0, 4)], []),
        ("0", "1", [(1, 3), (2, 5)], [0]),
        ("1", "0", [(2, 2)], []),
    ]


@st.composite
def fjsp_texts(draw) -> str:
    machines = draw(st.integers(1, 6))
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        ops = []
        for _ in range(draw(st.integers(1, 4))):
            chosen = draw(st.lists(st.integers(1, machines), min_size=1, max_size=machines, unique=True))
            ops.append(f"{len(chosen)} " + " ".join(f"{m} {draw(st.integers(0, 99))}" for m in chosen))
        lines.append(f"{len(ops)} " + " ".join(ops))
    return f"{len(lines)} {machines} 1\n" + "\n".join(lines) + "\n"


@settings(max_examples=40, deadline=None)
@given(fjsp_texts())
def test_round_trip(text):
    problem = read_fjsp(text)
    again = read_fjsp(write_fjsp(problem))
    assert [(t.job, t.op, t.modes, t.predecessors) for t in again.tasks] == [(t.job, t.op, t.modes, t.predecessors) for t in problem.tasks]
    assert write_fjsp(again) == write_fjsp(problem)


def test_reads_a_path_and_names_the_instance(tmp_path: Path):
    path = tmp_path / "small.fjs"
    path.write_text(TWO_JOBS)
    assert read_fjsp(path).name == "small" and read_fjsp(str(path)).n_operations == 3


def test_large_job_shop_is_read_whole():
    # 20,000 operations on 500 machines: the reader is linear, this must not take long.
    rng = random.Random(3)
    lines = ["200 500 2"]
    for _ in range(200):
        ops = []
        for _ in range(100):
            ms = rng.sample(range(1, 501), 2)
            ops.append(f"2 {ms[0]} {rng.randint(1, 99)} {ms[1]} {rng.randint(1, 99)}")
        lines.append("100 " + " ".join(ops))
    problem = read_fjsp("\n".join(lines) + "\n")
    assert problem.n_operations == 20_000 and len(problem.cells) == 500


MALFORMED = [
    ("", 1, "empty file"),
    ("2\n1 1 1 3\n", 1, "header"),
    ("two 2\n1 1 1 3\n", 1, "integers"),
    ("0 2\n", 1, "at least one job"),
    ("2 2\n1 1 1 3\n", 3, "2 job lines"),
    ("1 2\n0\n", 2, "positive number of operations"),
    ("1 2\n1 0\n", 2, "at least one alternative"),
    ("1 2\n1 1 3 4\n", 2, "machine in 1..2"),
    ("1 2\n1 1 1 -4\n", 2, "non-negative time"),
    ("1 2\n2 1 1 3\n", 2, "operation 1 of job 0"),
    ("1 2\n1 2 1 3 2\n", 2, "pairs"),
    ("1 2\n1 1 1 3 7\n", 2, "end of line"),
    ("1 2\n\n1 1 1 x\n", 3, "found 'x'"),
    ("1 2\n1 1 1 3\n1 1 1 3\n", 3, "end of file"),
]


@pytest.mark.parametrize("text, line, words", MALFORMED, ids=[f"{i}-{m[2]}" for i, m in enumerate(MALFORMED)])
def test_malformed_file_names_the_line(text, line, words):
    with pytest.raises(FjspFormatError) as info:
        read_fjsp(text if "\n" in text else text + "\n\n")
    message = str(info.value)
    assert f"line {line}:" in message and words in message and "\n" not in message
    assert info.value.line == line and isinstance(info.value, ValueError)
