"""Plans: problem building, CP-SAT model, bounds, decomposition, repair, validation."""
from scheduler.cpsat import solve

__all__ = ["solve"]
