"""CP-SAT backend: variables, constraint families, objective and the public `solve`."""
from scheduler.cpsat.solve import solve

__all__ = ["solve"]
