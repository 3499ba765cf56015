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
    ("1 2\n1 1 1 -4\n", 2, "time in 0..1000000000"),
    ("1 2\n1 1 1 99999999999\n", 2, "time in 0..1000000000"),
    # Hostile inputs found by fuzzing: Unicode digits, doubled signs, a header that asks for
    # ten million machines (it allocated until MemoryError), an integer of 5,000 digits.
    ("1 3\n1 1 2 \u00b2\n", 2, "found '\u00b2'"),
    ("1 3\n1 1 2 --5\n", 2, "found '--5'"),
    ("1 3\n1 1 2 \u0663\n", 2, "integers"),
    ("1 10000000\n1 1 1 5\n", 1, "at most 6 machines"),
    ("1 2\n1 1 1 " + "9" * 5000 + "\n", 2, "integers"),
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


# The public instances sit in shared/ beside the repository (CI copies it there too).
REAL = next((p for p in (Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "fjsp",
                         Path("/work/shared/benchmarks/fjsp")) if p.is_dir()), Path("/work/shared/benchmarks/fjsp"))
SEEDS = ["KacemHammadiBorne2002", "FattahiMehrabadJolai2007", "Brandimarte1993/mk01.txt"]
HOSTILE_TOKENS = ["\u00b2", "--5", "-0", "+3", "1e3", "3.5", "0x1f", "\u0663", "1_000", "9" * 40, "-1", "0", "10000000", "\x00", "\u00a0", "\t", "\r"]


def _real_texts() -> list[str]:
    files = []
    for seed in SEEDS:
        path = REAL / seed
        files += sorted(path.glob("*.txt"))[:3] if path.is_dir() else [path]
    return [f.read_text() for f in files if f.is_file()]


@st.composite
def mutated_instances(draw) -> str:
    """A real instance with a few random edits: tokens replaced by hostile ones, deleted or
    duplicated, lines dropped, duplicated or swapped, the text truncated."""
    texts = _real_texts()
    if not texts:
        return "1 1\n1 1 1 5\n"
    lines = [ln.split() for ln in draw(st.sampled_from(texts)).split("\n")]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["replace", "delete", "duplicate", "drop line", "copy line", "swap lines", "truncate"]))
        if kind in ("replace", "delete", "duplicate") and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            if kind == "replace":
                lines[i][k] = draw(st.sampled_from(HOSTILE_TOKENS) | st.integers(-10**6, 10**8).map(str))
            elif kind == "delete":
                del lines[i][k]
            else:
                lines[i].insert(k, lines[i][k])
        elif kind == "drop line" and len(lines) > 1:
            del lines[i]
        elif kind == "copy line":
            lines.insert(i, list(lines[i]))
        elif kind == "swap lines":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "truncate":
            lines = lines[: i + 1]
    return "\n".join(" ".join(tokens) for tokens in lines)


@settings(max_examples=300, deadline=None)
@given(mutated_instances())
def test_mutated_real_instances_read_or_refuse_in_one_line(text):
    n_lines = text.count("\n") + 1
    try:
        problem = read_fjsp(text + "\n", name="fuzz")
    except FjspFormatError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(f"line {exc.line}: expected")
        assert 1 <= exc.line <= n_lines + 1
        return
    # Whatever is accepted is a sound instance: chains in file order, machines as declared.
    assert problem.n_operations == sum(len(j.tasks) for j in problem.jobs) >= len(problem.jobs) >= 1
    for task in problem.tasks:
        assert task.modes and all(0 <= pool < len(problem.pools) and 0 <= d for pool, d in task.modes)
