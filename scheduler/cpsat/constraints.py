"""Constraint families of the CP-SAT model, one method each, said in the factory's words.

Setups between product families (capacity-1 cells only) -- the trade-off, measured:
an exact sequencing model needs a successor literal for every ordered pair of operations that
may share a cell, O(n^2) per cell. `benchmarks/setups.py` (one cell, 3 families, setup 20 s,
random releases, 5 s, 2 workers; our list schedule as hint) gave makespans:

    n    circuit  campaigns   (hint)
    6      155       155       188    circuit proves optimality, campaigns cannot
   10      215       215       246
   15      337       337       451
   20      443       386       548    circuit no longer finds the campaign plans
   40     1108       841      1120
   80     2160      1683      2160    circuit model alone took 20 s to build and solve

So:
* a cell whose candidate operations number at most CIRCUIT_LIMIT gets the exact model
  (AddCircuit over its candidates with "setup if the families differ" on each arc);
* a larger cell runs each product family as ONE campaign: the family's operations on the cell
  lie inside a campaign interval, campaigns never overlap and each is followed by the setup.
  That is O(n + families) literals. It is a restriction (a family cannot come back to a cell
  later), never a relaxation, so every schedule it yields passes the validator -- but the
  solver's bound then holds for the restricted model only and `solve` does not report it. On
  the floor it is what planners do anyway: batch by family to avoid changeovers.
"""
from __future__ import annotations

from collections import defaultdict

from ortools.sat.python import cp_model

from scheduler.cpsat.variables import CellChoice, TaskVars, Variables
from scheduler.problem import Problem

CIRCUIT_LIMIT = 15


class Constraints:
    def __init__(self, model: cp_model.CpModel, problem: Problem, variables: Variables) -> None:
        self.model = model
        self.problem = problem
        self.vars = variables
        self.setup_models: dict[str, str] = {}  # cell id -> "circuit" | "campaigns", for the KPIs
        self.by_cell: dict[int, list[CellChoice]] = defaultdict(list)
        for tv in variables.tasks:
            for mode in tv.modes if tv is not None else []:
                for choice in mode.cells:
                    self.by_cell[choice.cell].append(choice)

    def add_all(self) -> None:
        self.one_mode_per_operation()
        self.routing_precedence()
        self.job_completion()
        self.cell_capacity()
        self.pool_capacity()
        self.family_setups()

    def one_mode_per_operation(self) -> None:
        """Each operation that is built runs in exactly one eligible pool, on exactly one of its cells."""
        for tv in self.vars.tasks:
            if tv is None:
                continue
            if len(tv.modes) > 1:
                self.model.add(sum(m.chosen for m in tv.modes) == tv.present)
            for mode in tv.modes:
                if len(mode.cells) > 1:
                    self.model.add(sum(c.chosen for c in mode.cells) == mode.chosen)

    def routing_precedence(self) -> None:
        """An operation starts only after every operation before it in the product's routing has ended."""
        for t, task in enumerate(self.problem.tasks):
            tv = self.vars.tasks[t]
            if tv is None:
                continue
            for p in task.predecessors:
                pv = self.vars.tasks[p]
                if pv is not None:
                    self.model.add(pv.end <= tv.start)

    def job_completion(self) -> None:
        """A job is done when the last operation of its routing is done."""
        has_successor = {p for task in self.problem.tasks for p in task.predecessors}
        for t, task in enumerate(self.problem.tasks):
            tv, job_end = self.vars.tasks[t], self.vars.job_end[task.job]
            if tv is not None and job_end is not None and t not in has_successor:
                self.model.add(job_end >= tv.end)

    def cell_capacity(self) -> None:
        """A cell holds at most `capacity` jobs at a time and none while it is down for maintenance."""
        for c, cell in enumerate(self.problem.cells):
            intervals = [choice.interval for choice in self.by_cell[c]]
            if not intervals:
                continue
            down = [self.model.new_fixed_size_interval_var(s, e - s, f"down_{c}_{s}") for s, e in cell.unavailable if e > s]
            if cell.capacity == 1:
                self.model.add_no_overlap(intervals + down)
            else:
                self.model.add_cumulative(intervals + down, [1] * len(intervals) + [cell.capacity] * len(down), cell.capacity)

    def pool_capacity(self) -> None:
        """A pool of identical cells holds at most (cells x capacity) jobs at a time. For a pool
        modelled as one resource this IS the capacity rule; for a pool with per-cell choices it is
        a redundant rule that lets the solver reason about the pool before picking cells."""
        by_pool: dict[int, list[cp_model.IntervalVar]] = defaultdict(list)
        for tv in self.vars.tasks:
            for mode in tv.modes if tv is not None else []:
                if len(self.problem.pools[mode.pool].cells) > 1:
                    by_pool[mode.pool].append(mode.interval)
        for pool, intervals in by_pool.items():
            cells = [self.problem.cells[c] for c in self.problem.pools[pool].cells]
            total = sum(cell.capacity for cell in cells)
            # Windows shared by every cell of the pool take the whole pool down.
            shared = set(cells[0].unavailable).intersection(*(set(cell.unavailable) for cell in cells[1:]))
            down = [self.model.new_fixed_size_interval_var(s, e - s, f"pool_down_{pool}_{s}") for s, e in sorted(shared) if e > s]
            self.model.add_cumulative(intervals + down, [1] * len(intervals) + [total] * len(down), total)

    def family_setups(self) -> None:
        """A single-job cell changing product family between two jobs waits its setup time."""
        for c, cell in enumerate(self.problem.cells):
            if cell.setup <= 0 or cell.capacity != 1:
                continue
            choices = self.by_cell[c]
            if len({self._family(ch) for ch in choices}) < 2:
                continue
            if len(choices) <= CIRCUIT_LIMIT:
                self._setup_circuit(c, choices)
                self.setup_models[cell.id] = "circuit"
            else:
                self._setup_campaigns(c, choices)
                self.setup_models[cell.id] = "campaigns"

    def _setup_circuit(self, c: int, choices: list[CellChoice]) -> None:
        setup = self.problem.cells[c].setup
        arcs: list[tuple[int, int, cp_model.IntVar | int]] = []
        for i, a in enumerate(choices, start=1):
            arcs.append((0, i, self.model.new_bool_var(f"first_{c}_{i}")))
            arcs.append((i, 0, self.model.new_bool_var(f"last_{c}_{i}")))
            if not isinstance(a.chosen, int):
                arcs.append((i, i, ~a.chosen))
            for j, b in enumerate(choices, start=1):
                if i == j:
                    continue
                follows = self.model.new_bool_var(f"next_{c}_{i}_{j}")
                gap = setup if self._family(a) != self._family(b) else 0
                self.model.add(self._task(b).start >= self._task(a).end + gap).only_enforce_if(follows)
                arcs.append((i, j, follows))
        if any(not isinstance(ch.chosen, int) for ch in choices):
            empty = self.model.new_bool_var(f"empty_{c}")
            arcs.append((0, 0, empty))
        self.model.add_circuit(arcs)

    def _setup_campaigns(self, c: int, choices: list[CellChoice]) -> None:
        setup, upper = self.problem.cells[c].setup, self.vars.upper
        by_family: dict[str, list[CellChoice]] = defaultdict(list)
        for ch in choices:
            by_family[self._family(ch)].append(ch)
        campaigns = []
        for f, members in enumerate(by_family.values()):
            used = self.model.new_bool_var(f"campaign_{c}_{f}")
            first = self.model.new_int_var(0, upper, f"campaign_start_{c}_{f}")
            last = self.model.new_int_var(0, upper, f"campaign_end_{c}_{f}")
            # The setup is charged after the campaign: it must elapse before the next family starts.
            size = self.model.new_int_var(setup, upper + setup, f"campaign_size_{c}_{f}")
            campaigns.append(self.model.new_optional_interval_var(first, size, last + setup, used, f"campaign_{c}_{f}"))
            for ch in members:
                tv = self._task(ch)
                self.model.add(first <= tv.start).only_enforce_if(ch.chosen)
                self.model.add(last >= tv.end).only_enforce_if(ch.chosen)
                self.model.add_implication(ch.chosen, used)
            self.model.add_bool_or([ch.chosen for ch in members]).only_enforce_if(used)
        self.model.add_no_overlap(campaigns)

    # -- lookups -------------------------------------------------------------------------------

    def _task(self, choice: CellChoice) -> TaskVars:
        return self.vars.tasks[choice.task]  # type: ignore[return-value]

    def _family(self, choice: CellChoice) -> str:
        return self.problem.jobs[self.problem.tasks[choice.task].job].family
