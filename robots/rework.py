"""What a unit redoes when a controller reports that an operation failed its check: the spec's
rework routing (by plant.rework, the definition the twin and the spec checks share; the floor
controller decides it, robots.floorcontrol), queued as new jobs `UNIT/OP~rN` wired into the
dispatch run's job graph."""
from __future__ import annotations

import collections

from plant.rework import rework_set
from plant.spec import FactorySpec
from scheduler.problem import Problem
from scheduler.schedule import Assignment

MAX_ROUNDS = 3  # a unit sent back this often is a person's problem, not the routing's


def rework_sets(spec: FactorySpec) -> dict[tuple[str, str], list[str]]:
    """(product, failed operation) -> operations to redo (target first), for every operation that can fail."""
    out: dict[tuple[str, str], list[str]] = {}
    for product in spec.products:
        for i, op in enumerate(product.routing):
            if op.first_pass_yield < 1.0:
                out[(product.name, op.id)] = [product.routing[k].id for k in rework_set(product.routing, i)]
    return out


class ReworkRounds:
    """The dispatch run's rework (robots.dispatcher._Run mixes it in): rounds per unit, each a
    copy of the unit's rework set; `latest` maps a planned job id to its newest copy. Expects
    from the run: plan, owner, journal, assignment, predecessors, successors, cell_of, latest,
    rounds, unsettled and `_live_cell`."""

    def current(self) -> dict[str, Assignment]:
        """Each planned operation's job id now: the original, or its latest rework copy."""
        out = {}
        for jid, a in self.assignment.items():
            if "~r" not in jid:
                latest = self.latest.get(jid, jid)
                out[latest] = self.assignment[latest]
        return out

    def _add_rework_copies(self, job: str, failed_op: str, n: int, ops: list[str], cells: dict[str, str] | None) -> list[tuple[str, str, str, str]]:
        """Round `n` of rework for one unit: a copy of each operation in `ops`, wired after its
        copied predecessors; the failed operation's successors wait for its copy. Returns the
        journal rows (job id, cell, job, op)."""
        copies: dict[str, str] = {}
        rows = []
        self.rounds[job] = max(self.rounds[job], n)
        for op in ops:
            original = f"{self.plan}:{job}/{op}"
            latest = self.latest.get(original, original)
            if latest not in self.assignment:
                continue  # not part of this plan (carried-in work done before it)
            new = f"{original}~r{n}"
            src = self.assignment[latest]
            cell = cells[new] if cells is not None else self._live_cell(self.cell_of[latest])
            self.assignment[new] = Assignment(job, op, cell, src.start, src.end)
            self.cell_of[new] = cell
            self.unsettled += 1
            copies[op] = new
            rows.append((new, cell, job, op))
        for op, new in copies.items():
            latest = self.latest.get(f"{self.plan}:{job}/{op}", f"{self.plan}:{job}/{op}")
            # Inside the set, a copy waits for the copies of its predecessors; the target's own
            # predecessors are done (the unit is past them).
            self.predecessors[new] = [copies[self.assignment[p].op] for p in self.predecessors.get(latest, [])
                                      if self.assignment[p].op in copies]
            for p in self.predecessors[new]:
                self.successors[p].append(new)
        failed_latest = self.latest.get(f"{self.plan}:{job}/{failed_op}", f"{self.plan}:{job}/{failed_op}")
        failed_copy = copies.get(failed_op)
        if failed_copy is not None:
            for successor in self.successors.get(failed_latest, []):
                if successor in copies.values():
                    continue
                self.predecessors[successor] = [failed_copy if p == failed_latest else p for p in self.predecessors[successor]]
                self.successors[failed_copy].append(successor)
        for op, new in copies.items():
            self.latest[f"{self.plan}:{job}/{op}"] = new
        return rows

    def _rebuild_rework(self, problem: Problem) -> None:
        """A restarted dispatcher finds the rework an earlier run queued, round by round."""
        extra = [e for e in self.journal.entries(self.plan) if "~r" in e.job_id and e.job_id not in self.assignment]
        rounds: dict[tuple[str, int], list] = collections.defaultdict(list)
        for e in extra:
            rounds[(e.job, int(e.job_id.rsplit("~r", 1)[1]))].append(e)
        for (job, n), entries in sorted(rounds.items(), key=lambda item: item[0][1]):
            key = job.rsplit("#", 1)[0]
            ops_here = {e.op for e in entries}
            # The round's failed operation: the rework set closest to the round's copies (operations
            # outside the plan have no copy).
            candidates = [(len(ops), op) for (product, op), ops in self.owner.rework.items()
                          if product == key and set(ops) >= ops_here and op in ops_here]
            failed = min(candidates)[1] if candidates else None
            if failed is None:
                continue
            ops = self.owner.rework[(key, failed)]
            self._add_rework_copies(job, failed, n, [o for o in ops if o in ops_here], {e.job_id: e.cell for e in entries})

