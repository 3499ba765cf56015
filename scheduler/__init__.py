"""Plans: problem building, CP-SAT model, bounds, decomposition, repair, validation.

`scheduler.plan(problem, objective, limits) -> Result` is the front door every caller plans
through (scheduler/planning.py); `scheduler.solve` is the core CP-SAT model on its own."""
from typing import Any

__all__ = ["Limits", "Result", "plan", "solve"]


def __getattr__(name: str) -> Any:
    # Lazy, so that reading or validating a schedule does not pay for importing OR-Tools.
    if name == "solve":
        from scheduler.cpsat import solve

        return solve
    if name in ("plan", "Limits"):
        from scheduler import planning

        return getattr(planning, name)
    if name == "Result":
        from scheduler.result import Result

        return Result
    raise AttributeError(f"module 'scheduler' has no attribute {name!r}")
