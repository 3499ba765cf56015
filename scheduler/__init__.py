"""Plans: problem building, CP-SAT model, bounds, decomposition, repair, validation."""
from typing import Any

__all__ = ["solve"]


def __getattr__(name: str) -> Any:
    # Lazy, so that reading or validating a schedule does not pay for importing OR-Tools.
    if name == "solve":
        from scheduler.cpsat import solve

        return solve
    raise AttributeError(f"module 'scheduler' has no attribute {name!r}")
