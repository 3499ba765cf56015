"""Planning in a process of its own. CP-SAT releases the GIL while it searches, but building the
problem, the warm-up simulation, validation and the KPIs are Python and hold it for seconds:
in a thread of the server they starve the event loop, and every read waits. A child process
has its own interpreter; the server's job thread only relays its progress and takes its plan.

Children are forked from a `forkserver` that has imported the planner once (a fork of the
threaded server itself would copy locks held by other threads), so a job starts in a fraction
of a second. Cancelling keeps its meaning: the relay calls the job's progress callback at every
step the child reports (and twice a second when it reports none); when that raises, the child
is killed and nothing it made is stored."""
from __future__ import annotations

import multiprocessing
import os
import pickle
import multiprocessing.connection
from typing import Any, Callable

from plant.spec import FactorySpec

Progress = Callable[[float, str], None]
_POLL_S = 0.5
# Planning is background work with a time limit; answering people is not. At this niceness the
# OS gives the server the CPU first when both want it (CP-SAT still uses every idle cycle).
PLAN_NICENESS = 10
_PRELOAD = ["gwf.service.work", "scheduler.planning", "scheduler.steady"]


class PlanningDied(RuntimeError):
    """The child ended without an answer (killed by the OS, out of memory, a crash in C)."""


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def plan_in_child(spec: FactorySpec, options: dict[str, Any], progress: Progress) -> tuple[Any, dict[str, Any]]:
    """`work.compute_plan(spec, progress=..., **options)` in a child process: (schedule, summary).
    Its exceptions are raised here (ValueError stays a ValueError: bad input found late)."""
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_run, args=(sender, spec, options), name="gwf-plan", daemon=True)
    child.start()
    sender.close()  # ours is closed: the child's end closing is then seen here as EOF
    fraction = 0.0
    try:
        while True:
            if not receiver.poll(_POLL_S):
                progress(fraction, "")  # cancelled meanwhile? (raises JobCancelled)
                continue
            try:
                kind, *data = receiver.recv()
            except EOFError:
                child.join(5)
                raise PlanningDied(f"the planning process ended without a plan (exit code {child.exitcode})") from None
            if kind == "progress":
                fraction = data[0]
                progress(data[0], data[1])
            elif kind == "done":
                return data[0], data[1]
            else:
                raise data[0]
    finally:
        if child.is_alive():
            child.kill()
        child.join(5)
        receiver.close()


def _run(sender: multiprocessing.connection.Connection, spec: FactorySpec, options: dict[str, Any]) -> None:
    from gwf.service import work

    try:
        os.nice(PLAN_NICENESS)
        schedule, summary = work.compute_plan(spec, progress=lambda f, m="": sender.send(("progress", f, m)), **options)
        sender.send(("done", schedule, summary))
    except BaseException as exc:  # every failure goes back to the server, which reports it on the job
        sender.send(("error", _portable(exc)))
    finally:
        sender.close()


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives the trip to the server (an exception whose constructor takes other
    arguments than its message does not unpickle), else its class name and first line."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        text = str(exc)
        return RuntimeError(f"{exc.__class__.__name__}: {text.splitlines()[0] if text else ''}")
