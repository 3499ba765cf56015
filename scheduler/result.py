"""What a plan is worth: the one definition of an objective's sense, of a plan's gap to its bound,
and the immutable `Result` the planner's front door (`scheduler.plan`) returns.

A gap is how far a plan is from its bound, whatever the sense: (value - bound) / value when the
objective is minimised (makespan, tardiness), (bound - value) / bound when it is maximised (MW
delivered). Both are >= 0 for any valid plan and a valid bound, and 0 exactly when the plan
meets the bound (then it is optimal)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler.capacity import CapacityBound
    from scheduler.schedule import Schedule

# Objectives the planner maximises; their bound is an upper bound, every other's a lower bound.
MAXIMISED = frozenset({"mw"})


def gap(objective: str, value: float, bound: float) -> float | None:
    """Relative distance from `value` to `bound`, >= 0 in both senses; None when there is no
    bound to measure against (a bound of 0 for a maximised objective, a value of 0 otherwise)."""
    if objective in MAXIMISED:
        return (bound - value) / bound if bound > 0 else None
    return (value - bound) / value if value > 0 else None


def meets(objective: str, value: float, bound: float) -> bool:
    """Does the plan's value reach its bound (so nothing better exists)?"""
    return value >= bound - 1e-9 if objective in MAXIMISED else value <= bound + 1e-9


def better(objective: str, a: float, b: float) -> bool:
    """Is value `a` strictly better than `b`?"""
    return a > b + 1e-9 if objective in MAXIMISED else a < b - 1e-9


def tighter(objective: str, a: float | None, b: float | None) -> float | None:
    """The stronger of two valid bounds (the lower of two upper bounds, the higher of two lower)."""
    if a is None or b is None:
        return b if a is None else a
    return min(a, b) if objective in MAXIMISED else max(a, b)


@dataclass(frozen=True)
class Result:
    """A finished plan: the validated schedule with its value, bound and gap, computed once.

    `capacity` is the MW capacity bound by category (objective "mw" only): the bound a planner
    reads per category, whose total is `bound` unless the solver proved a tighter one."""

    schedule: Schedule
    objective: str
    value: float
    bound: float
    status: str  # optimal (meets its bound) | feasible | heuristic
    method: str  # which route the planner took: dispatch, cp-sat, lns, ...
    seconds: float
    capacity: CapacityBound | None = None
    kpis: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def gap(self) -> float | None:
        return gap(self.objective, self.value, self.bound)

    @property
    def optimal(self) -> bool:
        return meets(self.objective, self.value, self.bound)
