"""The jobs' precedence DAGs over a Problem's task indices: successors, a topological order,
and each task's head (earliest start) and tail (remaining work) at the fastest durations."""
from __future__ import annotations

from scheduler.problem import Problem


def successors_of(problem: Problem) -> list[list[int]]:
    successors: list[list[int]] = [[] for _ in problem.tasks]
    for t, task in enumerate(problem.tasks):
        for p in task.predecessors:
            successors[p].append(t)
    return successors


def task_tails(problem: Problem) -> list[int]:
    """Each task's remaining work: the longest chain from its start to its job's end, at the
    fastest eligible duration (a lower bound on how long after its start the job can finish)."""
    successors = successors_of(problem)
    order = topological_order(problem, successors)
    tails = [0] * len(problem.tasks)
    for t in reversed(order):
        fastest = min(d for _, d in problem.tasks[t].modes)
        tails[t] = fastest + max((tails[s] for s in successors[t]), default=0)
    return tails


def task_heads(problem: Problem) -> list[int]:
    """Earliest start of each task from releases and precedence alone (ignoring cells)."""
    heads = [0] * len(problem.tasks)
    for t in topological_order(problem):
        task = problem.tasks[t]
        release = max(problem.jobs[task.job].release, task.release)
        heads[t] = max([release] + [heads[p] + min(d for _, d in problem.tasks[p].modes) for p in task.predecessors])
    return heads


def topological_order(problem: Problem, successors: list[list[int]] | None = None) -> list[int]:
    successors = successors if successors is not None else successors_of(problem)
    indegree = [len(task.predecessors) for task in problem.tasks]
    stack = [t for t, k in enumerate(indegree) if k == 0]
    order: list[int] = []
    while stack:
        t = stack.pop()
        order.append(t)
        for s in successors[t]:
            indegree[s] -= 1
            if indegree[s] == 0:
                stack.append(s)
    if len(order) != len(problem.tasks):
        raise ValueError(f"{problem.name}: task predecessors form a cycle; a plan needs a DAG")
    return order
