"""Where each unit of a plan stands (done, late or open at the horizon): defined once in
`scheduler.units`, which the repair's cost report uses too, so `gwf compare` and
`gwf schedule --repair` count late and open units the same way."""
from scheduler.units import UnitStatus, unit_statuses

__all__ = ["UnitStatus", "unit_statuses"]
