"""The large-shop tabu search on the array graph (scheduler/graph.py, scheduler/graphtabu.py):
every move keeps the machine orders acyclic and the plan valid, the incrementally updated heads
and tails equal a full recompute after every move, and the result is never worse than its start."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.construct import list_schedule
from scheduler.generate import generate_fjsp
from scheduler.graph import propagate_heads, propagate_tails, reassign, swap
from scheduler.graphtabu import Graph, Search, improve, least_work_start, run_chunk
from scheduler.validate import validate

from tests.scheduler.test_core_localsearch import job_shops

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _consistent(graph: Graph) -> bool:
    head, tail = graph.head.copy(), graph.tail.copy()
    return graph.recompute() and bool((head == graph.head).all() and (tail == graph.tail).all())


@SETTINGS
@given(job_shops(), st.sampled_from(["fifo", "spt", "lpt"]), st.integers(0, 3))
def test_result_is_valid_and_never_worse(problem, rule, seed):
    # Random DAG precedences, releases and zero-length operations included.
    start = list_schedule(problem, rule=rule, objective="makespan")
    better = improve(problem, [start, least_work_start(problem)], 0.05, seed=seed)
    validate(problem, better)
    assert better.makespan <= start.makespan
    assert len(better.assignments) == len(start.assignments)


@SETTINGS
@given(job_shops(), st.integers(0, 5))
def test_heads_and_tails_after_every_move_equal_a_full_recompute(problem, seed):
    graph = Graph(problem, list_schedule(problem, rule="fifo", objective="makespan"))
    search = Search(graph, seed, stall=7, kick=2)
    for _ in range(30):
        run_chunk(graph.static(), graph.state(), search.best, search.tabu, search.work, search.counters, search.params, 1, 0)
        assert _consistent(graph)
        validate(problem, graph.schedule(list_schedule(problem)))


def test_incremental_updates_match_on_a_generated_shop():
    # 600 moves on a 2,000-operation flexible shop, checked one by one; the plan stays valid.
    known = generate_fjsp(2_000, 20, seed=3)
    start = least_work_start(known.problem)
    graph = Graph(known.problem, start)
    search = Search(graph, 1)
    for _ in range(600):
        run_chunk(graph.static(), graph.state(), search.best, search.tabu, search.work, search.counters, search.params, 1, 0)
        assert _consistent(graph)
    assert search.counters[0] == 600
    validate(known.problem, graph.schedule(start))
    search.restore_best()
    assert _consistent(graph) and graph.makespan == search.best_makespan < start.makespan


def test_swap_and_reassign_by_hand():
    # Each primitive move, then propagation from its seeds, equals the full recompute.
    known = generate_fjsp(400, 8, seed=5)
    graph = Graph(known.problem, least_work_start(known.problem))
    rng = np.random.default_rng(0)
    n = len(graph.release)
    queue, inq = np.zeros(n, np.int64), np.zeros(n, np.bool_)
    heads, tails = np.zeros(16, np.int64), np.zeros(16, np.int64)
    moved = 0
    for _ in range(300):
        v = int(rng.integers(n))
        others = [(int(m), int(d)) for m, d in zip(graph.opt_m[graph.opt_ptr[v]:graph.opt_ptr[v + 1]], graph.opt_d[graph.opt_ptr[v]:graph.opt_ptr[v + 1]])
                  if m != graph.mach[v]]
        w = graph.mnext[v]
        # A swap cannot close a cycle when w starts right at v's end (no other path from v to w
        # is that short) and w is not v's own routing successor.
        if rng.random() < 0.5 and w >= 0 and graph.head[w] == graph.head[v] + graph.dur[v] and v not in graph.jp_idx[graph.jp_ptr[w]:graph.jp_ptr[w + 1]]:
            count = swap(v, graph.mnext[v], graph.mach, graph.mprev, graph.mnext, graph.mfirst, graph.mlast, heads, tails)
        elif others:
            k, d = others[int(rng.integers(len(others)))]
            # Admissible positions only: after every operation with a path to v is impossible to
            # know without heads, so insert where heads say no cycle can close (as the search does).
            pv = graph.dur[v]
            x, y = -1, graph.mfirst[k]
            while y >= 0 and graph.tail[y] >= graph.tail[v] + pv:
                x, y = y, graph.mnext[y]
            if x >= 0 and graph.head[x] >= graph.head[v] + pv:
                continue
            count = reassign(v, k, x, d, graph.jp_ptr, graph.jp_idx, graph.js_ptr, graph.js_idx, graph.mach, graph.dur,
                             graph.mprev, graph.mnext, graph.mfirst, graph.mlast, heads, tails)
        else:
            continue
        limit = 10 * n
        assert propagate_heads(heads, count, graph.jp_ptr, graph.jp_idx, graph.js_ptr, graph.js_idx, graph.release, graph.dur,
                               graph.mprev, graph.mnext, graph.head, queue, inq, limit) >= 0
        assert propagate_tails(tails, count, graph.jp_ptr, graph.jp_idx, graph.js_ptr, graph.js_idx, graph.zeros, graph.dur,
                               graph.mprev, graph.mnext, graph.tail, queue, inq, limit) >= 0
        assert _consistent(graph)
        moved += 1
    assert moved > 100
    validate(known.problem, graph.schedule(least_work_start(known.problem)))


def test_a_generated_shop_gets_close_to_its_optimum():
    # The search's reason to exist: from the least-work dispatch (about +10% on these shops) to
    # within a few percent of the known optimum in a second.
    known = generate_fjsp(3_000, 30, seed=2)
    start = least_work_start(known.problem)
    better = improve(known.problem, start, 1.0, lower_bound=known.optimum)
    validate(known.problem, better)
    assert known.optimum <= better.makespan < start.makespan
    assert better.makespan <= 1.03 * known.optimum
