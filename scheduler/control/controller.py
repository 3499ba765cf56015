"""The floor controller: events in, decisions out, no I/O and no clock of its own.

Rules (docs/loop.md):
- Sequence. Each cell works through its planned sequence. A free cell takes the head of its
  sequence when the unit is there (every predecessor completed and the unit arrived) and its
  planned start, less `early_s` and any changeover, has come (a plan made for availability
  holds repair time as slack: a unit that met no failure is ahead of it and may go on).
- Look-ahead. If the head is not ready, the cell takes the first ready task among its next
  `lookahead` planned tasks whose start has come, rather than idle behind a late unit. Only a
  task whose every predecessor has completed can start, so no rule here breaks precedence.
- Twin cells help. A free cell with nothing of its own to start takes the ready task of its
  pool whose planned start is earliest, once that start has come (its planned cell is busy,
  down or working through other late work): the plan's order, the pool's flexibility.
- Routing. When a task's last predecessor completes (the unit is about to travel), it goes to
  its planned pool unless that pool has no free cell and another eligible pool would start it
  sooner (due work waiting and running per slot, times the task's duration there).
- Rework first. A task that fails its check sends its rework set back to the floor; those tasks
  are in no sequence and any free cell of their pool takes them first.
- Full buffer. While a pool's input buffer is full and units wait to enter it, a free cell of
  that pool takes any ready task of the pool, earliest planned first: with finite buffers a
  fixed sequence could otherwise wait for a unit that cannot enter (deadlock).
- Cell down. A stop expected to last `move_threshold_s` or more moves the tasks of the cell's
  queue inside `repair_window_s` that the stop delays into gaps of twin cells that start them
  sooner (scheduler.repair_pool, reading only the cell's pool).
- Re-plan. Every `replan_every_s`, or when the mean start lateness (moving average over about
  50 starts) exceeds `replan_lateness_s`, the open work inside `replan_window_s` is planned
  again from the current state (running work pinned, scheduler.carryin); a task moves only if
  its new cell starts it `replan_gain_s` sooner. A lateness re-plan that moved nothing doubles
  the wait before the next one.
Every decision goes to `log` with its reason. The host calls `handle(event)`, carries out the
returned decisions, and calls `handle(Tick(t))` at `next_wake`. (`on_ready` and `on_completed` do
what handle(Ready) and handle(Completed) do, without building the event, and like `handle_rows`
return the decisions as the log's rows: the twin's hot path.)
A free cell's pick remembers what it found (window, help candidate, the whole pick; see
_dispatch_task and docs/loop.md): the same decisions with fewer picks.
"""
from __future__ import annotations

import bisect
import copyreg
import heapq
import math
import time
from array import array
from collections import Counter, deque
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any, Callable, Final, cast

from librt.vecs import append, vec
from mypy_extensions import i64, mypyc_attr, u8

from scheduler.control.events import (MOVE, REPLAN, REWORK, START, CellDown, CellUp, Completed, Decision, DecisionLog, Failed,
                                      PoolFull, Ready, Started, Tick)
from scheduler.control.plan import ControlPlan

# Final: constants a compiled controller (scheduler.control.native) reads as C values, not globals.
WAITING: Final = 0
RUNNING: Final = 1
DONE: Final = 2
INF: Final = math.inf
# Start reasons (interned: a week of the 1 GW floor records ~75,000 starts)
PLAN: Final = "plan: next in the cell's sequence"
REWORK_FIRST: Final = "rework: failed check, served first by any cell of the pool"
OWN_CELL: Final = "own cell: due and ready beyond the look-ahead, its cell free"
HELP: Final = "help: earliest due ready task of the pool"
HELP_MOVE: Final = "help: due, its planned cell cannot take it now"
_LATENESS_ALPHA: Final = 1 / 50
# Imported names the per-event paths use, as Final: compiled, a C constant each, not a lookup in
# the module's dict (and for heapq's functions, in heapq's) at every use.
_START: Final = START
_MOVE: Final = MOVE
_heappush: Final = heapq.heappush
_heappop: Final = heapq.heappop


def _vec_of(kind: str, items: list[Any]) -> Any:
    """A vec of `kind` ("u8", "bool" or "i64") holding `items`: what a pickled vec is made again by."""
    if kind == "u8":
        return vec[u8](items)
    if kind == "bool":
        return vec[bool](items)
    return vec[i64](items)


def _reducer(kind: str) -> Callable[[Any], tuple]:
    def reduce(v: Any) -> tuple:
        return _vec_of, (kind, list(v))
    return reduce


# A vec has no pickling of its own: copy.deepcopy of a (pure Python) controller, as tests do, needs this.
copyreg.pickle(type(vec[i64]()), _reducer("i64"))
copyreg.pickle(type(vec[u8]()), _reducer("u8"))
copyreg.pickle(type(vec[bool]()), _reducer("bool"))


@dataclass(frozen=True)
class ControlConfig:
    lookahead: int = 4
    early_s: float = 0.0
    pool_help: bool = True
    route: bool = True  # a unit bound for a pool that is behind goes to another eligible pool that is not
    help_wait_s: float = 0.0  # a unit whose own (single-job) cell should be free this soon waits for it, not a twin
    repair: bool = True
    move_threshold_s: float = 2 * 3600.0
    repair_window_s: float = 8 * 3600.0
    replan_every_s: float | None = None
    replan_lateness_s: float | None = None
    # The re-plan's look-ahead: as long as its interval, since work beyond is planned again at
    # the next re-plan anyway. (A 4-replication screen of windows 4-24 h: the same GW/week within
    # noise, 0.978-0.981; re-plan CPU per week 2.3 s at 4 h, 3.0 s at 8 h, 7.1 s at 24 h.)
    replan_window_s: float = 8 * 3600.0
    replan_min_gap_s: float = 3600.0
    replan_gain_s: float = 1800.0  # a re-plan moves a task only if its new cell starts it this much sooner

    def __post_init__(self) -> None:
        if self.lookahead < 1:
            raise ValueError(f"lookahead: must be >= 1 (1 follows the sequence strictly), got {self.lookahead}")
        for name in ("early_s", "help_wait_s", "move_threshold_s", "repair_window_s", "replan_window_s", "replan_min_gap_s", "replan_gain_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        for name in ("replan_every_s", "replan_lateness_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name}: must be > 0 seconds or None (off), got {value}")

    @classmethod
    def policy(cls, name: str, **overrides) -> "ControlConfig":
        """blind: the plan as written (head of sequence only, no repair); repair: look-ahead and
        moving a down cell's work; replan: repair plus a rolling re-plan."""
        if name == "blind":
            base = cls(lookahead=1, pool_help=False, repair=False, route=False)
        elif name == "repair":
            base = cls(early_s=2 * 3600.0, help_wait_s=600.0)
        elif name == "replan":
            base = cls(early_s=2 * 3600.0, help_wait_s=600.0, replan_every_s=8 * 3600.0, replan_lateness_s=2 * 3600.0)
        else:
            raise ValueError(f"control: {name!r} is not a control policy; valid: blind, repair, replan")
        return replace(base, **overrides)


def _initial_state(plan: ControlPlan) -> tuple:
    """Status, open predecessors, sequence stamps and per-cell sequences at the plan's start:
    the same for every replication of a plan, so built once per plan and copied (the first
    three as vecs, and the window tags' zeros: a copy is one memcpy, see FloorController.__init__)."""
    if plan.start_state is None:
        done = plan.t_done
        status = [DONE if d else WAITING for d in done]
        preds_left = [0] * plan.n_tasks
        for t, preds in enumerate(plan.t_preds):
            for p in preds:
                if not done[p]:
                    preds_left[t] += 1
        stamp = [0] * plan.n_tasks
        seq: list[list[tuple[float, int, int]]] = [[] for _ in plan.cell_ids]
        start, cell = plan.t_start, plan.t_cell
        for k, t in enumerate(sorted((t for t in range(plan.n_tasks) if cell[t] >= 0 and not done[t]), key=start.__getitem__)):
            stamp[t] = k + 1
            seq[cell[t]].append((start[t], k + 1, t))
        plan.start_state = (vec[u8](bytes(status)), vec[i64](array("q", preds_left)), vec[i64](array("q", stamp)), seq,
                            vec[i64](array("q", bytes(8 * plan.n_tasks))))
    return plan.start_state


def _pair_counts(rows: list[tuple]) -> list[tuple[tuple[str, str], int]]:
    """The log's distinct (kind, reason) pairs with their counts, in order of first appearance
    (what Counter(zip(kinds, reasons)).items() gives). Counted by reason, one dict look-up a row,
    since every reason the controller gives belongs to one kind: a Counter of pairs builds,
    hashes and compares a tuple per row (~1,400 instructions a row, 2% of a replan week's run,
    ~135,000 rows read once at its end). A reason met with a second kind: the Counter after all."""
    at: dict[str, int] = {}  # reason -> its index in kinds, reasons and n
    kinds: list[str] = []
    reasons: list[str] = []
    n = vec[i64]()
    for row in rows:
        reason: str = row[2]
        k = at.get(reason, -1)
        if k < 0:
            at[reason] = len(kinds)
            kinds.append(row[1])
            reasons.append(reason)
            n = append(n, 1)
        elif kinds[k] == row[1]:
            n[k] += 1
        else:
            return list(Counter(zip(map(itemgetter(1), rows), map(itemgetter(2), rows))).items())
    return [((kinds[k], reasons[k]), int(n[k])) for k in range(len(kinds))]


def _recorded_stops(plan: ControlPlan) -> list:
    """Each cell's recorded stops as a calendar (None where none), built once per plan.
    Recorded stops only: routine windows (maintenance) pause work and the plan times around
    them; holding work back from them cost ~1% of a week's output."""
    if plan.stop_calendars is None:
        from scheduler.calendars import CellCalendar
        from scheduler.problem import recorded_downtime

        down = recorded_downtime(plan.schedule.kpis)
        plan.stop_calendars = [CellCalendar(down[cid]) if down.get(cid) else None for cid in plan.cell_ids]
    return plan.stop_calendars


class _Cell:
    """One cell's state as the per-event paths read and write it, in one object. In the twin
    the floor's work between two controller events evicts what the controller touched, and
    each entry read from a per-cell list is a cache miss of its own (the list, then its item):
    a pick and a start read ~15 of them per cell. `up` and `family` are also kept in the
    controller's per-cell lists, which other modules read (scheduler.control.snapshot)."""

    __slots__ = ("pool", "pl", "cap", "setup", "stops", "seq", "running", "up", "family", "ptr", "wtok", "wwake", "wend", "wstale",
                 "wlost", "armed", "armed_top", "armed_until", "busy_until", "began_on", "inheap")
    # Every attribute typed (a compiled controller keeps them as C fields: scheduler.control.native).
    pool: int
    pl: _Pool  # its pool's _Pool, set by the controller once the pools are made
    cap: int
    setup: float
    stops: Any  # a scheduler.calendars.CellCalendar, or None
    seq: list[tuple[float, int, int]]
    running: int
    up: bool
    family: str | None
    ptr: int
    wtok: int
    wwake: float
    wend: int
    wstale: int
    wlost: int
    armed: int
    armed_top: int
    armed_until: float
    busy_until: float
    began_on: list[int]
    inheap: bool

    def __init__(self, plan: ControlPlan, c: int, seq: list[tuple[float, int, int]], stops: Any) -> None:
        self.pool, self.cap, self.setup, self.stops = plan.cell_pool[c], plan.cell_capacity[c], plan.cell_setup[c], stops
        self.seq, self.ptr = seq, 0  # its planned sequence (start, stamp, task), and where the open part begins
        self.running, self.up, self.family = 0, True, None
        # The pick memo's per-cell part (see FloorController.__init__).
        self.wtok, self.wwake, self.armed, self.armed_top, self.armed_until = 0, INF, 0, 0, 0.0
        # Where the window's last scan ended in seq, the holes it counted there, and how many of
        # its tasks twins took since (see FloorController._window_kept).
        self.wend, self.wstale, self.wlost = 0, 0, 0
        self.busy_until = 0.0  # a single-job cell's expected end of its running task (planned time)
        self.began_on: list[int] = []  # tasks started here (running_tasks prunes; kept with repair or re-plan)
        self.inheap = True  # an entry in its pool's idle heap (every cell is idle at first)


class _Pool:
    """One pool's state as the per-event paths read it, in one object (as _Cell): the
    containers are the ones the controller's per-pool lists hold; the scalars live here only
    (`full` is also kept in the controller's list, which tests and hosts read)."""

    __slots__ = ("idle", "idle_heap", "rework", "waiting", "ready_heap", "full", "top_ver", "hver", "hdue", "rq_seen",
                 "busy")
    idle: set[int]
    idle_heap: list[int]
    rework: deque[int]
    waiting: set[int]
    ready_heap: list[tuple[float, int]]
    full: bool
    top_ver: int
    hver: int
    hdue: float
    rq_seen: int
    busy: int

    def __init__(self, idle: set[int], idle_heap: list[int], rework: deque[int], waiting: set[int], ready_heap: list[tuple[float, int]]) -> None:
        self.idle, self.idle_heap, self.rework, self.waiting, self.ready_heap = idle, idle_heap, rework, waiting, ready_heap
        # The idle heap holds every idle cell and, lazily, cells busy again, each cell at most once
        # (_Cell.inheap): a cell idle again whose entry is still there is not pushed twice.
        self.full = False
        # The help memo (see FloorController.__init__): the version of the pool's help
        # candidate, the version when last looked at (-1: never) and when that candidate
        # becomes due (inf: no candidate, or one that waits for a predecessor, whose completion
        # bumps the version); and the rework queue's (rq_seen, see _rq_ver).
        self.top_ver, self.hver, self.hdue, self.rq_seen = 0, -1, INF, -1
        self.busy = 0  # tasks running in the pool (kept when routing, which reads it)


# Compiled (scheduler.control.native), a native class: Python classes may still subclass it
# (tests' checking controllers, benchmarks/twin.py's recording one).
@mypyc_attr(allow_interpreted_subclasses=True)
class FloorController:
    # Its state in slots. The controller keeps ~60 attributes, more than CPython (3.11) shares
    # among instances' dicts (30): past that each instance gets a dict of its own, and every
    # `self._pick(...)` and most `self.x` reads on the per-event paths fall back to a dict
    # lookup (callgrind: ~8% of the controller's instructions a week). '__dict__' stays for
    # what a host or a test may hang on a controller; such an instance is only slower.
    __slots__ = (
        "plan", "config", "log", "_log_rows", "_out", "now", "_nowf", "next_wake",
        # per task
        "status", "preds_left", "arrived", "cell", "start", "started_at", "ran_on", "in_rework", "stamp", "waiting_pool",
        "_win_tag",
        # per cell and per pool
        "up", "family", "down_until", "seq", "_cells", "_pools", "_cpool", "_wake_of", "_from", "rework_queue", "full",
        "waiting_in_pool", "buffer_heap", "ready_heap", "idle", "idle_heap", "_turn", "pool_slots", "_routable",
        # what each rule keeps, and the policy's switches (see __init__)
        "_wakes", "_stamps", "_tok", "_valid_from", "_rq_ver", "lateness", "next_replan", "last_replan", "_late_s",
        "replan_gap", "replan_cpu_s", "down_cpu_s", "_lo", "_head", "_off_order", "on_planned_cell", "_help", "_early",
        "_lookahead", "_route_on", "_heaped", "_replans", "_moves", "_help_wait", "_track_late",
        "_t_start",  # the plan's planned starts (plan.t_start), read per pick and start
        "_t_end", "_t_family", "_t_cell", "_t_succs",  # the plan's lists read per start or completion (as _t_start)
        "_memo",  # tests turn the pick memo off in a shadow controller to check it changes no decision
        "__dict__")
    plan: ControlPlan
    config: ControlConfig
    log: DecisionLog
    _log_rows: list[tuple]
    _out: list[tuple]
    now: Any  # the host's time as it gives it (SimPy's start is the int 0): the decision rows carry it as given
    _nowf: float  # the same as a float, set with it: what the rules compare and add (compiled: a C double, no boxing)
    next_wake: float
    # The per-task state every event reads as vecs (librt.vecs: compiled, raw values in one
    # array, read and written in place; see __init__), the rest as lists.
    status: vec[u8]
    preds_left: vec[i64]
    arrived: vec[bool]
    cell: list[int]
    start: list[float]
    started_at: list[float]
    ran_on: list[int]
    in_rework: vec[bool]
    stamp: vec[i64]
    waiting_pool: list[int]
    _win_tag: vec[i64]  # (why a vec: see __init__)
    up: list[bool]
    family: list[str | None]
    down_until: list[float]
    seq: list[list[tuple[float, int, int]]]
    _cells: list[_Cell]
    _pools: list[_Pool]
    _cpool: list[int]
    _wake_of: list[float]
    _from: list[dict[str, Any]]
    rework_queue: list[deque[int]]
    full: list[bool]
    waiting_in_pool: list[set[int]]
    buffer_heap: list[list[tuple[float, int]]]
    ready_heap: list[list[tuple[float, int]]]
    idle: list[set[int]]
    idle_heap: list[list[int]]
    _turn: list[int]
    pool_slots: list[int]
    _routable: bytearray
    _wakes: list[tuple[float, int]]
    _stamps: int
    _tok: int
    _valid_from: int
    _rq_ver: int
    lateness: float
    next_replan: float
    last_replan: float
    _late_s: float
    replan_gap: float
    replan_cpu_s: float
    down_cpu_s: list[float]
    _lo: int
    _head: list[int]
    _off_order: list[int]
    on_planned_cell: int
    _help: bool
    _early: float
    _lookahead: int
    _route_on: bool
    _heaped: bool
    _replans: bool
    _moves: bool
    _help_wait: float
    _track_late: bool
    _t_start: list[float]
    _t_end: list[float]
    _t_family: list[str]
    _t_cell: list[int]
    _t_succs: list[list[int]]
    _memo: bool

    def __init__(self, plan: ControlPlan, config: ControlConfig | None = None) -> None:
        self.plan = plan
        self.config = config or ControlConfig()
        n = plan.n_tasks
        status, preds_left, stamp, seq, zeros = _initial_state(plan)
        # Per task, the state an event reads for the task and its successors (status, open
        # predecessors, arrived, redone) and a window scan for each entry (stamp, as _win_tag):
        # vecs of bytes and 64-bit ints. In lists each entry is a pointer (8 tasks a cache line,
        # a task's successors are the next ids) and each stamp an int object read behind it:
        # the floor's work evicts them between two events.
        self.status = vec[u8](status)
        self.preds_left = vec[i64](preds_left)
        self.arrived = vec[bool]([False] * n)
        self.cell = list(plan.t_cell)
        self.start = list(plan.t_start)
        self.started_at = [0.0] * n
        self.ran_on = [-1] * n
        self.in_rework = vec[bool]([False] * n)
        self.stamp = vec[i64](stamp)
        n_cells = len(plan.cell_ids)
        self.up = [True] * n_cells
        self.family = [None] * n_cells
        self.down_until = [0.0] * n_cells
        self.seq = [list(s) for s in seq]
        stops = _recorded_stops(plan)  # per cell, None where nothing was recorded
        self._cells = [_Cell(plan, c, self.seq[c], stops[c]) for c in range(n_cells)]
        self.rework_queue = [deque() for _ in plan.pool_names]
        # The rework rule's memo: a version bumped whenever a redone task may have got ready
        # (it arrived, or its last predecessor completed once it was there; a redo sends tasks
        # back not there yet), and per pool the version its queue was last found without a
        # ready task at (under repair, picks read a non-empty queue ~100,000 times a week).
        self._rq_ver = 0
        self.full = [False] * len(plan.pool_names)
        self.waiting_in_pool = [set() for _ in plan.pool_names]
        # The same tasks by planned start, for the full-buffer rule (earliest planned first):
        # entries (start, task) are dropped lazily once the task left the set or was re-timed.
        self.buffer_heap = [[] for _ in plan.pool_names]
        self.waiting_pool = [-1] * n  # the pool whose waiting set holds the task, -1 when none
        self.ready_heap = [[] for _ in plan.pool_names]
        self.idle = [set(cells) for cells in plan.pool_cells]  # up, with a free slot
        self.idle_heap = [sorted(cells) for cells in plan.pool_cells]  # the same, lazily: lowest first
        self._pools = [_Pool(*parts) for parts in zip(self.idle, self.idle_heap, self.rework_queue, self.waiting_in_pool, self.ready_heap)]
        for cs in self._cells:
            cs.pl = self._pools[cs.pool]
        self._turn = [0] * len(plan.pool_names)
        self.pool_slots = [max(1, sum(plan.cell_capacity[c] for c in cells)) for cells in plan.pool_cells]
        self._wakes = []
        self._stamps = n  # above every stamp of the initial sequences
        self.lateness = 0.0
        self.next_replan = self.config.replan_every_s if self.config.replan_every_s else INF
        self.next_wake = self.next_replan  # see _settle
        self.last_replan = -INF
        self._late_s = INF if self.config.replan_lateness_s is None else self.config.replan_lateness_s
        self._wake_of = [INF] * n_cells  # the last wake-up pushed per cell: an equal one is not pushed twice
        self.replan_gap = self.config.replan_min_gap_s  # doubles after a lateness re-plan that moved nothing
        self.replan_cpu_s = 0.0
        self.down_cpu_s = []  # CPU seconds of each cell-down repair decision
        # open_before's index: how far it read into the plan's tasks by planned start, the ones
        # met not done, and those that may be out of that order: re-timed, redone, or started
        # ahead of their planned start (pruned of finished ones at each call).
        self._lo, self._head = 0, []
        self._off_order = []
        self.log = DecisionLog()
        self._log_rows = self.log.rows
        self._out = []  # this event's decisions, as log rows
        self.now = self._nowf = 0.0
        self.on_planned_cell = 0  # starts on the task's planned cell
        self._from = [{"from": cid} for cid in plan.cell_ids]  # a move's detail, one per cell: read-only, shared by its rows
        # What each policy needs, chosen once: the per-event paths do only the bookkeeping some
        # rule of this configuration reads (open_before's order for a re-plan, the lateness
        # mean for a lateness re-plan, expected ends for help_wait_s).
        cfg = self.config
        self._cpool = plan.cell_pool
        # Tasks with more than one eligible pool, one byte each (read per completion), once per plan.
        self._routable = plan.derived("routable", (plan.t_pools,), lambda: bytearray(len(pools) > 1 for pools in plan.t_pools))
        self._help, self._early, self._lookahead, self._route_on = cfg.pool_help, cfg.early_s, cfg.lookahead, cfg.route
        self._heaped = cfg.pool_help or cfg.route  # the idle cells' heap: only a hand-over to a twin reads it
        self._replans = cfg.replan_every_s is not None or cfg.replan_lateness_s is not None
        self._moves = cfg.repair or self._replans  # the starts per cell: only a cell-down repair or a re-plan reads them
        self._help_wait = cfg.help_wait_s
        self._track_late = cfg.replan_lateness_s is not None
        # The pick memo (docs/loop.md; the same decisions with fewer picks), in three parts:
        # - the window memo (in each cell's _Cell), kept while the cell works too: the token of
        #   its window's last scan (wtok; 0: void; the window's tasks carry it in _win_tag) and that scan's wake-up (the
        #   earliest gate of a ready task in the window). Void when a window task gets ready
        #   with its gate come, leaves the sequence, the cell changes family on a cell with
        #   changeovers, a move touches the cell, or a token is below _valid_from (stops,
        #   re-plans, tasks started by hand);
        # - the help memo per pool (_Pool's hver, hdue), by the version of the pool's help
        #   candidate (top_ver: bumped when a new unit tops the help order, the top starts or
        #   its last predecessor completes, the pool's buffer fills or drains, a move);
        # - a free cell's whole failed pick (armed: its window token, 0 once it started
        #   something), with the help version it saw and its wake-up (armed_top, armed_until).
        # Cells with recorded stops never keep one: their gates are not monotone in time.
        self._memo = True
        # The plan's lists the per-event paths read, held here: a compiled controller reads its
        # own typed fields directly, a plan's attributes through a dict (ControlPlan is Python).
        self._t_start = plan.t_start
        self._t_end, self._t_family, self._t_cell, self._t_succs = plan.t_end, plan.t_family, plan.t_cell, plan.t_succs
        self._tok = 0
        self._valid_from = 1
        # The window tags as raw 64-bit ints (librt.vecs: compiled, an array read and written in
        # place). In a list each tag stored was a new int object (tokens pass 256 at once), the one
        # it replaced freed, and each check read the object behind the slot: ~250,000 stores and
        # as many checks a week, each a cache miss of its own in the twin.
        self._win_tag = vec[i64](zeros)

    # ------------------------------------------------------------------ the interface
    def handle(self, event) -> list[Decision]:
        """Take one event, return the decisions it causes (also appended to `log`)."""
        return [Decision(*row) for row in self.handle_rows(event)]

    def handle_rows(self, event) -> list[tuple]:
        """handle(event) for a host that reads the decisions as the log keeps them: tuples
        (time, kind, reason, task, cell, detail), the objects appended to `log.rows` (a week
        of the twin takes ~150,000 decisions; it builds no Decision for them)."""
        kind = type(event)
        if kind is Ready:
            return self.on_ready(event.time, event.task)
        if kind is Completed:
            return self.on_completed(event.time, event.task, event.cell)
        out: list[tuple] = []
        self._out = out
        self.now = self._nowf = event.time
        if kind is Tick:
            self._tick()
            return self._settle(out)
        if kind is PoolFull:
            pool = event.pool
            self._set_full(pool, event.full)
            if event.full:
                self._dispatch_pool(pool)
            return self._settle(out)
        if kind is Failed:
            # A redo makes tasks less ready (sent back, or waiting for a redone predecessor) and
            # puts them in no sequence: no other free cell can start anything it could not.
            self._failed(event.task, event.cell)
            return self._settle(out)
        self._valid_from = self._tok + 1  # rare: any free cell picks for real next time
        if kind is CellDown:
            self._down(event.cell, event.expected_up)
        elif kind is CellUp:
            self.up[event.cell] = self._cells[event.cell].up = True
            self._freed(event.cell)
            self._dispatch(event.cell)
        elif kind is Started:
            self._started(event.task, event.cell)
        else:
            raise TypeError(f"not a controller event: {event!r}")
        return self._settle(out)

    # The two events of every operation, without an event record (the twin's hot path): the
    # same as handle_rows(Ready(now, t)) and handle_rows(Completed(now, t, c)), decision rows out.
    # Each is one call that does the whole event (the bookkeeping and the picks it causes) with
    # the state it reads fetched once: a week of the 1 GW floor sends ~75,000 of each.
    def on_ready(self, now: Any, t: int) -> list[tuple]:
        """The unit is at its station for task t (arrived; ready once no predecessor is open)."""
        out: list[tuple] = []
        self._out = out
        self.now = now
        nowf: float = now
        self._nowf = nowf
        c = self.cell[t]
        self.arrived[t] = True
        pool = self._cpool[c] if c >= 0 else self.plan.t_pools[t][0]
        pl = self._pools[pool]
        waiting_pool = self.waiting_pool
        wp = waiting_pool[t]
        if wp != pool and wp >= 0:  # one unit waits in one place
            self.waiting_in_pool[wp].discard(t)
            waiting_pool[t] = -1
        if not self._help or self.in_rework[t]:
            if self.in_rework[t]:
                self._rq_ver += 1  # a redone task arrived: the rework queues' last look is void
            waiting_pool[t] = pool  # _wait_in, inline
            pl.waiting.add(t)
            if pl.full:
                self._push_waiting(pool, t)
            self._dispatch_task(t)
        elif c >= 0 and not pl.full and ((cs := self._cells[c]).running >= cs.cap or not cs.up):
            # Its own cell cannot pick now, so nothing reads the pool's waiting set or help order
            # before the hand-over below: the unit joins them only if it is not handed over (most
            # units a twin takes on arrival never enter them; the same decisions).
            # _hand_over, inline (most units under help policies start here): its own cell is
            # busy or down, so the lowest free twin takes t if it is due and ready, unless t is
            # next on its own single-job cell, which frees within help_wait_s (_own_cell_soon,
            # called only when its cheap conditions hold).
            idle: set[int] | None = pl.idle  # None once handed over
            wait = self._help_wait
            if idle and self.status[t] == WAITING and self._t_start[t] - self._early <= nowf and self.preds_left[t] == 0 \
                    and not (wait and cs.up and cs.cap == 1 and cs.busy_until - nowf <= wait and self._own_cell_soon(t)):
                if c in idle:
                    to = c
                else:  # _first_idle, inline (help policies keep the heap)
                    heap = pl.idle_heap
                    while heap[0] not in idle:
                        self._cells[_heappop(heap)].inheap = False
                    to = heap[0]
                if self._cells[to].stops is None or not self._window_wait(t, to):
                    self._take_due(t, c, to)
                    idle = None  # started
            if idle is not None:
                # Not handed over: if t is in its cell's window as last scanned, that scan may no
                # longer stand. (Handed over, t leaves the window: _take_due voids the scan; the
                # hand-over reads nothing of it, so the check waits until here.)
                tok = cs.wtok
                if tok and self._win_tag[t] == tok:
                    self._window_ready(t, cs)
                self._wait_in(pool, t)
                self._join_help(pool, t)
        else:
            self._wait_in(pool, t)
            self._join_help(pool, t)
            self._dispatch_task(t)
            self._hand_over(t, pool)
        # _settle, inline: its re-plan trigger read here (the call only when a re-plan is due), then next_wake.
        if self._replans and (nowf >= self.next_replan or (self.lateness > self._late_s and nowf - self.last_replan >= self.replan_gap)):
            return self._settle(out)
        wake = self._wakes[0][0] if self._wakes else INF
        self.next_wake = wake if wake < self.next_replan else self.next_replan
        return out

    def on_completed(self, now: Any, t: int, c: int) -> list[tuple]:
        """Task t is done on cell c and passed its check: its successors are a predecessor
        nearer, and the cell, which has a free slot now, picks."""
        out: list[tuple] = []
        self._out = out
        self.now = now
        nowf: float = now
        self._nowf = nowf
        status = self.status
        status[t] = DONE
        cs = self._cells[c]
        cs.running -= 1
        if self._route_on:
            cs.pl.busy -= 1
        up = cs.up
        if up:  # after a completion the cell has a free slot: _idle, inline
            pl = cs.pl
            idle = pl.idle
            if c not in idle:
                idle.add(c)
                if self._heaped and not cs.inheap:
                    cs.inheap = True
                    _heappush(pl.idle_heap, c)
        left, routable = self.preds_left, self._routable
        there: list[int] | None = None  # successors there already that got ready: a twin may take them (below)
        for s in self._t_succs[t]:
            if status[s] == WAITING:
                n = left[s] = left[s] - 1
                if n == 0:
                    if self.arrived[s]:  # reported there before its last predecessor completed
                        if self.in_rework[s]:
                            self._rq_ver += 1
                        if self._help:
                            heap = self.ready_heap[self.pool_of(s)]
                            if heap and heap[0][1] == s:  # the help candidate is now ready
                                self._pools[self.pool_of(s)].top_ver += 1
                        self._dispatch_task(s)
                        if self._help and not self.in_rework[s]:
                            there = [s] if there is None else there + [s]
                    elif self._route_on and routable[s] and not self.in_rework[s]:
                        self._route(s)  # the host routes the unit next (it asks pool_of)
        if up:  # _dispatch(c), inline
            while cs.running < cs.cap and self._pick(c, cs):
                pass
        if there is not None:
            # A unit ready now that its own cell, busy or down, did not take: a free twin takes it if
            # it is due, as on arrival (_hand_over); after c picked, so c runs its own work first.
            # (Free cells of another pool pick only at their own events.)
            for s in there:
                self._hand_over(s, self.pool_of(s))
        if self._replans and (nowf >= self.next_replan or (self.lateness > self._late_s and nowf - self.last_replan >= self.replan_gap)):
            return self._settle(out)  # (as on_ready)
        wake = self._wakes[0][0] if self._wakes else INF
        self.next_wake = wake if wake < self.next_replan else self.next_replan
        return out

    def _settle(self, out: list[tuple]) -> list[tuple]:
        """After an event: a re-plan if one is due, and `next_wake`, when the host should send
        Tick next (inf: only events can change anything), kept as a plain attribute."""
        now = self._nowf
        if now >= self.next_replan or (self.lateness > self._late_s and now - self.last_replan >= self.replan_gap):
            self._replan("interval" if now >= self.next_replan else "lateness")
        wake = self._wakes[0][0] if self._wakes else INF
        self.next_wake = wake if wake < self.next_replan else self.next_replan
        return out

    def pool_of(self, t: int) -> int:
        """The pool (cell type) the task is to run in: its cell's, or for unsequenced rework the fastest."""
        c = self.cell[t]
        return self.plan.cell_pool[c] if c >= 0 else self.plan.t_pools[t][0]

    def queue(self, c: int):
        """Cell c's open sequence, in order (the tasks it is still to run, as planned now)."""
        cs, stamp, status = self._cells[c], self.stamp, self.status
        seq = cs.seq
        for k in range(cs.ptr, len(seq)):
            s, st, t = seq[k]
            if stamp[t] == st and status[t] == WAITING:
                yield t

    def open_before(self, limit: float) -> set[int]:
        """The planned tasks running now, or waiting (not redone) with a planned start before
        `limit` (>= now): what a re-plan's snapshot starts from. Reads the not-done tasks whose original
        planned start is before `limit` and the few out of that order, not the whole plan."""
        plan, status, in_rework, start = self.plan, self.status, self.in_rework, self.start
        planned = plan.t_problem
        if not self._replans:  # the index is kept for the re-plan only: a scan
            return {t for t, p in enumerate(planned) if p >= 0 and (status[t] == RUNNING or (
                status[t] == WAITING and not in_rework[t] and start[t] < limit))}
        # The planned tasks by original planned start, made once per plan; this controller keeps
        # how far into it earlier calls read (_lo) and the tasks met so far that are not done
        # (_head, in that order). A task done there and redone since is among the off-order ones.
        order = plan.derived("by_start", (plan.t_start, planned),
                             lambda: sorted((t for t, p in enumerate(planned) if p >= 0), key=plan.t_start.__getitem__))
        key = plan.t_start.__getitem__
        lo: int = self._lo
        k: int = bisect.bisect_left(order, limit, lo=lo, key=key)
        # Each task is read as the object the lists hold (Any) and as an int for the typed reads
        # of the controller's lists: compiled, the lists and the set keep those objects rather
        # than a new int made per entry and call (~6,000 entries a re-plan).
        t: int
        obj: Any
        old_head: list[Any] = self._head
        old_off: list[Any] = self._off_order
        head: list[Any] = []
        fresh: list[Any] = order[lo:k]
        for obj in old_head + fresh:
            t = obj
            if status[t] != DONE:
                head.append(obj)
        self._head = head
        self._lo = k
        if head and key(head[-1]) >= limit:  # an earlier call read further (a later limit)
            head = head[:bisect.bisect_left(head, limit, key=key)]
        off: list[Any] = []
        for obj in old_off:
            t = obj
            if status[t] != DONE and planned[t] >= 0:
                off.append(obj)
        self._off_order = off
        out: set[Any] = set()
        for obj in head + off:
            t = obj
            st = status[t]
            if st == RUNNING or (st == WAITING and not in_rework[t] and start[t] < limit):
                out.add(obj)
        return out

    def running_tasks(self, cells) -> list[int]:
        """The tasks running now on any of `cells`, in task order. Read from each cell's starts
        since the last call (pruned here), not from every task: a cell-down repair asks for
        one pool's cells on a floor of ~75,000 tasks."""
        status, ran_on, out = self.status, self.ran_on, []
        if not self._moves:  # the starts per cell are not kept: a scan (no policy without them asks)
            cells = set(cells)
            return [t for t, st in enumerate(status) if st == RUNNING and ran_on[t] in cells]
        for c in cells:
            began = self._cells[c].began_on
            if began:
                began[:] = [t for t in dict.fromkeys(began) if status[t] == RUNNING and ran_on[t] == c]
                out += began
        return sorted(out)

    @property
    def pool_busy(self) -> list[int]:
        """Tasks running per pool: kept per pool when routing (the only rule that reads it),
        else counted from the cells."""
        if self._route_on:
            return [pl.busy for pl in self._pools]
        busy = [0] * len(self._pools)
        for cs in self._cells:
            busy[cs.pool] += cs.running
        return busy

    @property
    def running(self) -> list[int]:
        """Tasks running per cell, a copy (read by tests; the controller keeps the count per _Cell)."""
        return [cs.running for cs in self._cells]

    @property
    def starts(self) -> int:
        """Tasks started so far: the log's START rows, counted when asked (tests; summary()
        counts the log's kinds anyway) rather than by a counter bumped at every start."""
        return sum(1 for row in self.log.rows if row[1] == START)

    def summary(self) -> dict:
        counts: dict[str, int] = {}
        reasons: dict[str, int] = {}
        # Distinct (kind, reason) pairs first: a week logs 80,000-140,000 decisions but a few
        # thousand distinct reasons. Pairs come in order of first appearance, so both dicts keep
        # the log's order of first appearance.
        for (kind, reason), n in _pair_counts(self.log.rows):
            counts[kind] = counts.get(kind, 0) + n
            key = f"{kind}/{reason.split(':', 1)[0]}"
            reasons[key] = reasons.get(key, 0) + n
        return {"decisions": counts, "reasons": reasons, "replans": counts.get(REPLAN, 0),
                "replan_cpu_s": round(self.replan_cpu_s, 4), "starts": counts.get(START, 0), "on_planned_cell": self.on_planned_cell,
                "cell_down_cpu_each_s": self.down_cpu_s}

    # ------------------------------------------------------------------ events
    def _join_help(self, pool: int, t: int) -> None:
        """The unit waits in the pool's help order (by planned start)."""
        heap = self.ready_heap[pool]
        _heappush(heap, (self.start[t], t))
        if heap[0][1] == t:  # the pool's help candidate changed
            self._pools[pool].top_ver += 1

    def _hand_over(self, t: int, pool: int) -> bool:
        """A unit just there, due, not taken by its own cell's pick: if its cell is busy or down,
        or it is beyond that cell's look-ahead, its own cell when free takes it out of order (the
        plan's cell before a twin's), else the lowest free twin does (a free cell has nothing of
        its own to start: it would have). True when it started."""
        plan = self.plan
        if self.status[t] == WAITING and self._t_start[t] - self._early <= self._nowf and self.idle[pool] \
                and self.preds_left[t] == 0 and not self._own_cell_soon(t):
            own = self.cell[t]
            c = own if own in self.idle[pool] else self._first_idle(pool)
            if self._cells[c].stops is not None and self._window_wait(t, c):
                return False
            self._take_due(t, own, c)
            return True
        return False

    def _take_due(self, t: int, own: int, c: int) -> None:
        """Start due task t on free cell c: its own cell's out-of-order take, or a twin's help move
        (which voids its own cell's window memo if t was in that window)."""
        self.stamp[t] = 0
        if c == own:
            self._begin(t, own, OWN_CELL)
            return
        oc = self._cells[own]
        if self._win_tag[t] == oc.wtok:  # its cell's window lost a task: its scan stands until its next pick (_window_kept)
            oc.wlost += 1
            oc.armed = 0
        row = (self.now, _MOVE, HELP_MOVE, t, c, self._from[own])  # _emit, inline: ~60,000 help moves a week under repair
        self._log_rows.append(row)
        self._out.append(row)
        self.cell[t] = c
        self._begin(t, c, HELP)

    def _window_kept(self, cs: _Cell) -> bool:
        """Whether the window memo of cs stands after twins took `wlost` of its tasks (~31,000
        times a week under repair, mostly while cs is busy): a rescan would find what this finds.
        The window gains the next live entries of the sequence past where the last scan ended,
        read as the scan reads them (a ready one whose gate has come: False, the rescan starts
        it; one whose gate is ahead brings the wake-up forward). A taken task cannot have set
        the wake-up: it was due, so its gate here had come, and a memo standing has its wake-up
        ahead. Then what the rescan does besides: the open pointer past the holes at the head
        (no longer the window's holes), and with more than 16 holes in the window, dropping them
        (left to the rescan itself: False). So the sequence's layout, which later moves bisect,
        changes at the picks where it changed before."""
        seq, stamp, now = cs.seq, self.stamp, self._nowf
        entries: list[Any] = seq  # the entries' (stamp, task) read without their start (see _pick)
        n = len(seq)
        i = p = cs.ptr
        while i < n:
            e: tuple[object, ...] = entries[i]
            if stamp[cast(int, e[2])] == cast(int, e[1]):
                break
            i += 1
        j, gain, tok = cs.wend, cs.wlost, cs.wtok
        stale = cs.wstale + gain - (i - p)
        tag, arrived, left = self._win_tag, self.arrived, self.preds_left
        while j < n and gain:
            e = entries[j]
            st, t = cast(int, e[1]), cast(int, e[2])
            j += 1
            if stamp[t] != st:
                stale += 1
                continue
            gain -= 1
            tag[t] = tok
            if arrived[t] and left[t] == 0:  # as _pick's scan
                gate = self._t_start[t] - self._early
                fam = cs.family
                if fam is not None and fam != self._t_family[t]:
                    gate -= cs.setup
                if gate <= now:
                    cs.wtok = 0  # void, as the twin's take left it before: the rescan may start a task, and set no memo then
                    return False
                if gate < cs.wwake:
                    cs.wwake = gate
        if stale > 16:
            cs.wtok = 0
            return False
        cs.ptr, cs.wend, cs.wstale, cs.wlost = i, j, stale, 0
        return True

    def _window_wait(self, t: int, c: int) -> float:
        """0 when t may start on cell c now; else the end of the recorded stop of c (a repaired
        plan's downtime, kpis.down) its work would run into: a cell does not take up work it
        would hold through a known stop. The work is its planned time on c's pool, twice that
        when it starts early or off its planned cell (its time varies, the plan did not time it there)."""
        plan = self.plan
        calendar = self._cells[c].stops
        if calendar is None:
            return 0.0
        pool = plan.cell_pool[c]
        planned = plan.t_end[t] - plan.t_start[t]
        duration = next((d for p, d in plan.problem.tasks[plan.t_problem[t]].modes if p == pool), planned) if plan.t_problem[t] >= 0 else planned
        if self.now < plan.t_start[t] or c != plan.t_cell[t]:
            duration *= 2
        w = calendar.blocking(int(self.now), int(self.now + duration) + 1)
        return 0.0 if w < 0 else float(calendar.ends[w])

    def _own_cell_soon(self, t: int) -> bool:
        """Whether t should wait for its own cell rather than go to a free twin now: that cell is
        up, runs one job, t is next in its sequence, and its work should end within help_wait_s.
        A twin that frees first still takes t (the pool's help); only the hand-over at arrival waits."""
        wait = self.config.help_wait_s
        c = self.cell[t]
        if not wait or c < 0:
            return False
        cs = self._cells[c]
        if not cs.up or cs.cap != 1 or cs.busy_until - self._nowf > wait:
            return False
        entries: list[Any] = cs.seq  # (as _pick)
        stamp, status = self.stamp, self.status
        for k in range(cs.ptr, len(entries)):  # next(self.queue(c)), without the generator
            e: tuple[object, ...] = entries[k]
            st, head = cast(int, e[1]), cast(int, e[2])
            if stamp[head] == st and status[head] == WAITING:
                return head == t
        return False

    def _dispatch_task(self, t: int) -> None:
        """Task t just got ready (arrived, every predecessor done): let its cell pick, unless the
        memo shows the pick would find what the cell's last pick found. That pick failed, so
        it can only succeed now through something it read that changed since: a task of its
        window getting ready (t itself, when it carries the pick's token), the pool's help
        candidate (its _Pool.top_ver), or a rare event (_valid_from); a gate passing brings the wake-up
        that pick pushed (its _Cell.armed_until), and a Tick picks for real. A skipped pick would not
        even have compacted the sequence: its window, and so its count of stale entries, is
        the one the last pick saw."""
        c = self.cell[t]
        if c < 0:  # unsequenced rework: any free cell of its pool
            self._dispatch_pool(self.plan.t_pools[t][0], t)
            return
        cs = self._cells[c]
        tok = cs.wtok
        if tok and self._win_tag[t] == tok:  # t is in its cell's window as last scanned
            self._window_ready(t, cs)
        pool = cs.pool
        if self.in_rework[t] or cs.pl.full:
            self._dispatch_pool(pool, t)
        elif cs.running < cs.cap and cs.up:
            tok = cs.armed
            if tok >= self._valid_from and self._win_tag[t] != tok and cs.armed_top == cs.pl.top_ver \
                    and self._nowf < cs.armed_until:
                return
            while cs.running < cs.cap and self._pick(c, cs):  # _dispatch(c), inline
                pass

    def _window_ready(self, t: int, cs: _Cell) -> None:
        """Task t of c's window as last scanned is there now: if it is ready, that scan stands
        only while t's gate is ahead (with the earlier wake-up); else it is void."""
        if self.preds_left[t] == 0:
            gate = self._t_start[t] - self._early
            fam = cs.family
            if fam is not None and fam != self._t_family[t]:
                gate -= cs.setup
            if gate > self._nowf:
                if gate < cs.wwake:
                    cs.wwake = gate
            else:
                cs.wtok = cs.armed = 0

    def _started(self, t: int, c: int) -> None:
        if self.status[t] == WAITING:  # work a cell began on its own: record it as ours
            if self.cell[t] != c:
                self._assign(t, c, self.start[t])
            self.stamp[t] = 0  # out of its sequence: it runs
            self._begin(t, c, "reported: the cell started it")

    def _freed(self, c: int) -> None:
        cs = self._cells[c]
        if cs.up and cs.running < cs.cap:
            self._idle(cs.pool, c)

    def _idle(self, pool: int, c: int) -> None:
        idle = self.idle[pool]
        if c not in idle:
            idle.add(c)
            cs = self._cells[c]
            if self._heaped and not cs.inheap:
                cs.inheap = True
                _heappush(self.idle_heap[pool], c)

    def _first_idle(self, pool: int) -> int:
        """The lowest-numbered idle cell of the pool (which must have one), without a scan: on a
        10 GW floor a pool has hundreds of cells. The heap is kept only by the policies that
        hand work to twins (help, routing); the others never ask but here, so a scan."""
        idle = self.idle[pool]
        if not self._heaped:
            return min(idle)
        heap = self.idle_heap[pool]
        while heap[0] not in idle:
            self._cells[_heappop(heap)].inheap = False
        return heap[0]

    def _route(self, t: int) -> None:
        """Routing: the unit is about to go to task t's station. It goes to its planned pool
        unless that pool has no free cell and another eligible pool would start it sooner: fewer
        tasks due and waiting or running per slot, scaled by how long the task takes there (the
        join-the-shortest-queue measure, counting only work whose planned start has come)."""
        plan = self.plan
        here = self.pool_of(t)
        modes = plan.problem.tasks[plan.t_problem[t]].modes if plan.t_problem[t] >= 0 else None
        if not modes:
            return
        duration = dict(modes)
        if here not in duration or self.idle[here]:  # a free cell of its own pool: as planned
            return

        due = self.now + self.config.early_s
        start = plan.t_start

        def load(pool: int) -> float:
            # Units waiting there for a later planned start do not compete for its cells yet.
            waiting = sum(1 for w in self.waiting_in_pool[pool] if start[w] <= due)
            return (waiting + self._pools[pool].busy + 1) / self.pool_slots[pool] * duration[pool]

        mine = load(here)
        best, best_load = here, mine
        for pool in plan.t_pools[t]:
            if pool != here and pool in duration:
                value = load(pool)
                if value < best_load:
                    best, best_load = pool, value
        if best == here:
            return
        # A free cell of that pool if there is one; else its cells in turn (any free cell of the
        # pool helps with due work, so which one queues it matters little).
        if self.idle[best]:
            c = self._first_idle(best)
        else:
            cells = plan.pool_cells[best]
            self._turn[best] = (self._turn[best] + 1) % len(cells)
            c = cells[self._turn[best]]
        frm = self.cell[t]
        self._emit(MOVE, f"route: {plan.pool_names[here]} more loaded ({mine:.0f} s/slot) than {plan.pool_names[best]} ({best_load:.0f})",
                   t, c, self._from[frm])
        self._assign(t, c, self.start[t])

    def _failed(self, t: int, c: int) -> None:
        """The spec's rework routing: every task on a path from the rework target to the failed
        one is redone; they leave their sequences and go to their pool's rework queue.

        A redo is idempotent: a task of the set that is not done (still waiting, queued, or
        running, e.g. a sibling target, or a task an overlapping redo already sent back) merges
        with the redo where it is, never a second copy; the failed task and the done ones go
        back. Predecessor counts are then re-derived from the statuses (open predecessors), not
        incremented, so two overlapping redos cannot count a predecessor twice (nor drive a
        count below zero when it completes)."""
        self._cells[c].running -= 1
        if self._route_on:
            self._cells[c].pl.busy -= 1
        self._freed(c)
        plan = self.plan
        redo = plan.t_rework[t]
        status, left, preds = self.status, self.preds_left, plan.t_preds
        back = [o for o in redo if o == t or status[o] == DONE]
        self._off_order += back
        for o in back:
            status[o] = WAITING
        touched = dict.fromkeys(back)
        for o in back:
            touched.update(dict.fromkeys(plan.t_succs[o]))
        tag, cells = self._win_tag, self.cell
        for o in touched:
            if status[o] == WAITING:
                left[o] = sum(1 for p in preds[o] if status[p] != DONE)
            oc = self._cells[cells[o]]  # (-1: the last cell's; its token is never a task's tag then)
            if tag[o] == oc.wtok:  # less ready now: its cell's window scan is void
                oc.wtok = oc.armed = 0
        for o in back:
            self.arrived[o] = False
            self.stamp[o] = -1  # out of any sequence
            self.in_rework[o] = True
            self._leave_pool(o)
            self.rework_queue[self.pool_of(o)].append(o)
        self._emit(REWORK, f"rework: {plan.t_op[t]} failed its check; redo {len(redo)} operation(s) from {plan.t_op[redo[0]]}",
                   t, c, [plan.t_op[o] for o in redo])
        self._dispatch(c)

    def _down(self, c: int, expected_up: float) -> None:
        self.up[c] = self._cells[c].up = False
        self.idle[self.plan.cell_pool[c]].discard(c)
        self.down_until[c] = expected_up
        cfg = self.config
        if cfg.repair and expected_up - self.now >= cfg.move_threshold_s:
            from scheduler.control.snapshot import repair_cell

            began = time.process_time()
            try:
                moves = repair_cell(self, c, expected_up)
            except ValueError as exc:  # a controller never stops the floor: record why nothing moved
                self._emit(MOVE, f"repair failed: {exc}", -1, c)
                return
            finally:
                self.down_cpu_s.append(time.process_time() - began)
            seconds = self.down_cpu_s[-1]
            for t, to, start in moves:
                frm = self.cell[t]
                self._assign(t, to, start)
                self._emit(MOVE, f"repair: {self.plan.cell_ids[frm]} down until {expected_up:.0f}s", t, to,
                           {"from": self.plan.cell_ids[frm], "cpu_s": round(seconds, 4)})
            for to in {to for _, to, _ in moves}:
                self._dispatch(to)

    def _tick(self) -> None:
        wakes, now = self._wakes, self._nowf
        cells = set()
        while wakes and wakes[0][0] <= now:
            cells.add(_heappop(wakes)[1])
        for c in cells:
            self._dispatch(c)

    # ------------------------------------------------------------------ dispatching
    def _dispatch_pool(self, pool: int, t: int = -1) -> None:
        """Let every free cell of the pool pick (t: the task whose readiness is the cause, or -1).
        The rework, help and full-buffer rules read only the pool's state, so once one cell
        without recorded stops has found nothing, a cell whose memo stands (see _dispatch_task)
        would find nothing either: only its own window could have changed, and it has not."""
        shared, tag, cells = False, self._win_tag, self._cells
        for c in list(self.idle[pool]):
            cs = cells[c]
            if shared:
                tok = cs.armed
                if tok >= self._valid_from and (t < 0 or tag[t] != tok) and cs.armed_top == cs.pl.top_ver \
                        and self._nowf < cs.armed_until:
                    continue
            while cs.up and cs.running < cs.cap:
                if not self._pick(c, cs):
                    if cs.stops is None and self._memo:
                        shared = True
                    break

    def _dispatch(self, c: int) -> None:
        cs = self._cells[c]
        while cs.up and cs.running < cs.cap:
            if not self._pick(c, cs):
                return

    def _pick(self, c: int, cs: _Cell) -> bool:
        """Start one task on free cell c if the rules allow one; False when none may start.
        (Every free cell's look at work goes through here, ~100,000 a week: state is read
        where a branch needs it, not up front; `cs` is cell c's _Cell.)"""
        pool, pl = cs.pool, cs.pl
        if pl.rework and pl.rq_seen != self._rq_ver and self._rework_first(c, pool):
            return True
        now = self._nowf  # only compared here (the rows take self.now as given)
        stops = cs.stops  # None: no recorded stop on this cell, nothing to wait out
        tok = cs.wtok
        if tok >= self._valid_from and now < cs.wwake and (not cs.wlost or self._window_kept(cs)):
            # The window memo: no task of the window got ready or left it (but to a twin, see
            # _window_kept), no gate passed and no changeover changed since its last scan, which
            # found nothing to start.
            wake = cs.wwake
        else:
            self._tok = tok = self._tok + 1
            seq, stamp = cs.seq, self.stamp
            # The entries read as objects: typed (start, stamp, task), each read would convert the
            # whole tuple, its start too (a float object of its own, a cache miss in the twin,
            # boxed again for `_` and freed), and the scan reads only stamp and task.
            entries: list[Any] = seq
            i, n = cs.ptr, len(seq)
            while i < n:
                e: tuple[object, ...] = entries[i]
                if stamp[cast(int, e[2])] == cast(int, e[1]):
                    break
                i += 1
            cs.ptr = i
            tag, arrived, left = self._win_tag, self.arrived, self.preds_left  # the window's tasks carry this scan's token
            wake, seen, stale, lookahead = INF, 0, 0, self._lookahead
            head = -1  # the sequence's head: the entry the loop above stopped at is live
            if i < n:
                e = entries[i]
                head = cast(int, e[2])
            j = i
            while j < n and seen < lookahead:
                e = entries[j]
                st, t = cast(int, e[1]), cast(int, e[2])
                j += 1
                if stamp[t] != st:
                    stale += 1
                    continue
                tag[t] = tok
                if arrived[t] and left[t] == 0:
                    # The gate is the plan's own start (when the unit may begin, as planned); a
                    # repair or re-plan reorders and re-assigns, it does not hold work back.
                    gate = self._t_start[t] - self._early
                    fam = cs.family
                    if fam is not None and fam != self._t_family[t]:
                        gate -= cs.setup
                    if gate <= now:
                        gate = self._window_wait(t, c) if stops is not None else 0.0
                        if not gate:
                            stamp[t] = 0
                            self._begin(t, c, PLAN if t == head else f"look-ahead: head {self.plan.task_name(head)} not ready")
                            return True
                    if gate < wake:
                        wake = gate
                seen += 1
            if stale > 16:  # work taken by twin cells leaves holes: drop them once rather than scan them every time
                seq[i:] = [e for e in seq[i:] if stamp[e[2]] == e[1]]
                j, stale = i + seen, 0
            if stops is None and self._memo:
                cs.wtok, cs.wwake, cs.wend, cs.wstale, cs.wlost = tok, wake, j, stale, 0
        heap = pl.ready_heap
        if not heap:  # only filled with pool_help
            pass
        elif pl.hver == pl.top_ver and now < pl.hdue and stops is None:
            # The help memo: the pool's candidate is the one the last look found not due (or due
            # but waiting for a predecessor: its completion changes the version).
            due = pl.hdue
            if due < wake:
                wake = due
        else:
            early, left, arrived, stamp = self._early, self.preds_left, self.arrived, self.stamp
            status, in_rework, cell_pool, cells, t_start = self.status, self.in_rework, self._cpool, self.cell, self._t_start
            while heap:
                s, t = heap[0]
                if status[t] != WAITING or not arrived[t] or in_rework[t] or stamp[t] <= 0 or cell_pool[cells[t]] != pool:
                    _heappop(heap)
                    continue
                due = t_start[t] - early
                if due <= now and left[t] == 0:
                    due = self._window_wait(t, c) if stops is not None else 0.0
                if due <= now and left[t] == 0:
                    _heappop(heap)
                    # The pool's most due task: this cell's own beyond its look-ahead, or a twin's.
                    self._take_due(t, cells[t], c)
                    return True
                if now < due < wake:  # not due yet, or it would run into this cell's planned window
                    wake = due
                if stops is None and self._memo:
                    pl.hver, pl.hdue = pl.top_ver, due if due > now else INF
                break
            else:
                if stops is None and self._memo:  # nothing waits for help
                    pl.hver, pl.hdue = pl.top_ver, INF
        if wake < INF and wake != self._wake_of[c]:
            # Every wake is later than now, so an equal one pushed before is still queued: a
            # second copy would only wake the same cell at the same tick again.
            self._wake_of[c] = wake
            _heappush(self._wakes, (wake, c))
        if pl.full and self._take_for_full(c, pool):
            return True
        if stops is None and self._memo:
            # Nothing may start: until something this pick read changes (a task of its window
            # gets ready or leaves it, the pool's help candidate changes, a rare event, or the
            # wake-up just pushed comes), another pick here would find the same.
            cs.armed = tok
            cs.armed_top = pl.top_ver
            cs.armed_until = wake  # at the wake-up a gate passes: the memo ends there
        return False

    def _rework_first(self, c: int, pool: int) -> bool:
        """The pick's first rule: a ready task of the pool's rework queue starts on c."""
        queue, arrived, left, status = self.rework_queue[pool], self.arrived, self.preds_left, self.status
        for t in queue:
            if arrived[t] and left[t] == 0 and status[t] == WAITING:
                queue.remove(t)
                self.cell[t] = c
                self._begin(t, c, REWORK_FIRST)
                return True
        if self._memo:  # none is ready: none can be until a redone task arrives or gets ready (_rq_ver)
            self._pools[pool].rq_seen = self._rq_ver
        return False

    def _take_for_full(self, c: int, pool: int) -> bool:
        """The pick's last rule, while the pool's input is full: its earliest planned ready task
        starts on c, whichever cell it was planned on."""
        best = self._earliest_waiting(pool)
        if best < 0:
            return False
        plan = self.plan
        frm = self.cell[best]
        if frm != c:
            self._emit(MOVE, f"buffer full: {plan.pool_names[pool]} input is full, a free cell takes it out of sequence",
                       best, c, self._from[frm] if frm >= 0 else {"from": None})
        if frm >= 0 and self._win_tag[best] == (fc := self._cells[frm]).wtok:  # its cell's window lost a task
            fc.wtok = fc.armed = 0
        if self.in_rework[best]:
            self.rework_queue[pool].remove(best)
        self.cell[best] = c
        self.stamp[best] = 0
        self.in_rework[best] = False
        self._begin(best, c, "buffer full: earliest planned ready task of the pool")
        return True

    def _begin(self, t: int, c: int, reason: str) -> None:
        """Task t starts on cell c now: the decision row, and what the rules read of a start.
        (The count of starts is the log's: see summary.)"""
        now = self.now
        self.status[t] = RUNNING
        cs = self._cells[c]
        cs.running += 1
        cs.armed = 0  # it started something: its last pick does not stand
        if self._win_tag[t] == cs.wtok:  # from its window: the window changed
            cs.wtok = 0
        pl = cs.pl
        if cs.running >= cs.cap:
            pl.idle.discard(c)
        if self._help:
            heap = pl.ready_heap
            if heap and heap[0][1] == t:  # the pool's help candidate starts: the next one is
                pl.top_ver += 1
            if self._help_wait:
                cs.busy_until = self._nowf + self._t_end[t] - self._t_start[t]
        if self._route_on:  # only routing reads the pools' running counts
            pl.busy += 1
        fam = self._t_family[t]
        if fam != cs.family:
            if cs.setup:  # the window's gates count a changeover from the family it runs
                cs.wtok = 0
            self.family[c] = cs.family = fam
        self.started_at[t] = now
        self.ran_on[t] = c
        if self._moves:
            cs.began_on.append(t)
            if self._replans:
                start = self.start[t]
                if start >= self._nowf:  # not behind its plan: maybe out of open_before's order
                    self._off_order.append(t)
                if self._track_late and not self.in_rework[t]:
                    late = self._nowf - start
                    self.lateness += _LATENESS_ALPHA * ((late if late > 0.0 else 0.0) - self.lateness)
        wp = self.waiting_pool[t]
        if wp >= 0:  # started: it waits in no pool (wherever it was reported ready)
            self.waiting_in_pool[wp].discard(t)
            self.waiting_pool[t] = -1
        if c == self._t_cell[t]:  # (a count at summary() would walk the log's ~75,000 starts again: slower)
            self.on_planned_cell += 1
        row = (now, _START, reason, t, c, None)
        self._log_rows.append(row)
        self._out.append(row)

    def _emit(self, kind: str, reason: str, t: int = -1, c: int = -1, detail=None) -> None:
        now = self.now
        row = (now, kind, reason, t, c, detail)
        self._log_rows.append(row)
        self._out.append(row)

    # ------------------------------------------------------------------ waiting units per pool
    def _wait_in(self, pool: int, t: int) -> None:
        if self.waiting_pool[t] != pool:
            self._leave_pool(t)  # one unit waits in one place
        self.waiting_in_pool[pool].add(t)
        self.waiting_pool[t] = pool
        if self.full[pool]:
            self._push_waiting(pool, t)

    def _set_full(self, pool: int, full: bool) -> None:
        """The pool's input buffer is full (or not). The full-buffer order is kept only while
        it is: built from the waiting set when the buffer fills, dropped when it has room."""
        pl = self._pools[pool]
        pl.top_ver += 1  # the full-buffer rule turns on or off for the pool's free cells
        if full != pl.full:
            self.full[pool] = pl.full = full
            heap = self.buffer_heap[pool]
            if full:
                start = self.start
                heap[:] = [(start[w], w) for w in self.waiting_in_pool[pool]]
                heapq.heapify(heap)
            else:
                heap.clear()

    def _push_waiting(self, pool: int, t: int) -> None:
        """A unit waits in a full pool: its place in the full-buffer order (kept only while full)."""
        heap = self.buffer_heap[pool]
        heapq.heappush(heap, (self.start[t], t))
        if len(heap) > 4 * len(self.waiting_in_pool[pool]) + 256:  # mostly entries of tasks long gone: rebuild
            start = self.start
            heap[:] = [(start[w], w) for w in self.waiting_in_pool[pool]]
            heapq.heapify(heap)

    def _leave_pool(self, t: int) -> None:
        pool = self.waiting_pool[t]
        if pool >= 0:
            self.waiting_in_pool[pool].discard(t)
            self.waiting_pool[t] = -1

    def _earliest_waiting(self, pool: int) -> int:
        """The ready task waiting in the pool with the earliest planned start (ties: lowest task
        id), or -1. Tasks still waiting for a predecessor keep their entries. The heap is kept
        only while the pool is full (the only time the rule reads it); otherwise a scan."""
        heap, members, start = self.buffer_heap[pool], self.waiting_in_pool[pool], self.start
        left, status = self.preds_left, self.status
        if not self.full[pool]:
            return min(((start[t], t) for t in members if left[t] == 0 and status[t] == WAITING), default=(0.0, -1))[1]
        kept, best = [], -1
        while heap:
            s, t = heap[0]
            if t not in members or start[t] != s:
                heapq.heappop(heap)
            elif left[t] == 0 and status[t] == WAITING:
                best = t
                break
            else:
                kept.append(heapq.heappop(heap))
        for entry in kept:
            heapq.heappush(heap, entry)
        return best

    def _assign(self, t: int, c: int, start: float) -> None:
        """Put an unstarted task into cell c's sequence at its (new) planned start."""
        self._assign_all([(t, c, start)])

    def _assign_all(self, moves: list[tuple[int, int, float]]) -> None:
        """_assign for each (task, cell, start) of `moves`, in order, as one pass: a re-plan moves
        800-1,200 tasks at once. Each entry goes where _assign puts it (bisect, not before the
        cell's open part), so the sequences are the ones the moves one by one make."""
        cell, start_of, stamp, arrived, in_rework = self.cell, self.start, self.stamp, self.arrived, self.in_rework
        cells, pools, cpool, waiting_pool, full = self._cells, self._pools, self._cpool, self.waiting_pool, self.full
        off, stamps = self._off_order, self._stamps
        for t, c, start in moves:
            old = cell[t]
            cell[t] = c
            start_of[t] = start
            # Two sequences change: neither cell's last scan stands (voiding twice is voiding
            # once: nothing here reads the memo). A unit that is there may change its pool's help
            # candidate (re-plan, repair; a routed unit is not there yet).
            cs = cells[old]
            cs.wtok = cs.armed = 0
            cs = cells[c]
            cs.wtok = cs.armed = 0
            if arrived[t]:
                pools[cpool[old]].top_ver += 1
                pools[cpool[c]].top_ver += 1
            off.append(t)  # re-timed: out of open_before's order
            stamps += 1
            stamp[t] = stamps
            in_rework[t] = False
            pool = waiting_pool[t]
            if pool >= 0 and full[pool]:  # re-timed: its place in the full-buffer order too
                heapq.heappush(self.buffer_heap[pool], (start, t))
            # bisect.bisect_left(seq, (start, stamps, t)) on the start alone: the new stamp is
            # above every stamp in a sequence, so an entry sorts before the new one exactly when
            # its start is not later. The same probes (the sequence's open part may be out of
            # order, and the probes read that layout), compiled without a tuple comparison each;
            # an entry is read as a tuple of objects (its start unboxed alone), not unboxed whole,
            # which would read its stamp and task objects too (cache misses, ~9 probes a move).
            seq = cs.seq
            probe: list[Any] = seq
            lo, hi = 0, len(seq)
            while lo < hi:
                mid = (lo + hi) // 2
                row: tuple[Any, ...] = probe[mid]
                at: float = row[0]
                if at <= start:
                    lo = mid + 1
                else:
                    hi = mid
            seq.insert(lo if lo > cs.ptr else cs.ptr, (start, stamps, t))
        self._stamps = stamps

    def _replan(self, trigger: str) -> None:
        from scheduler.control.snapshot import replan

        cfg = self.config
        self.last_replan = self.now
        if cfg.replan_every_s:
            self.next_replan = self.now + cfg.replan_every_s
        else:
            self.next_replan = INF
        began = time.process_time()
        try:
            changes, figures = replan(self)
        except ValueError as exc:
            self._emit(REPLAN, f"replan failed ({trigger}): {exc}")
            return
        status, in_rework = self.status, self.in_rework
        moves = [m for m in changes if status[m[0]] == WAITING and not in_rework[m[0]]]  # only what the re-plan starts sooner elsewhere
        self._assign_all(moves)
        moved = len(moves)
        seconds = time.process_time() - began
        self.replan_cpu_s += seconds
        self.lateness = 0.0
        # Fire when it helps: a re-plan that found nothing to gain makes the next lateness
        # trigger wait twice as long (up to a day); one that moved work resets the wait.
        self.replan_gap = cfg.replan_min_gap_s if moved else min(2 * self.replan_gap, 24 * 3600.0)
        why = "every %.0f h" % (cfg.replan_every_s / 3600) if trigger == "interval" else f"mean start lateness above {cfg.replan_lateness_s:.0f}s"  # type: ignore[operator]
        self._emit(REPLAN, f"replan: {why}", detail={**figures, "moved": moved, "cpu_s": round(seconds, 4)})
        # Every free cell looks again; one whose last pick stands (the re-plan moved nothing of
        # its window or its pool's help candidate: _assign voids what it touches) would find
        # the same.
        now = self.now
        for c, cs in enumerate(self._cells):
            if cs.up and cs.running < cs.cap:
                if cs.armed >= self._valid_from and cs.armed_top == cs.pl.top_ver and now < cs.armed_until:
                    continue
                self._dispatch(c)
