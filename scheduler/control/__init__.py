"""The floor controller: between a plan and the cells, for the twin and the dispatcher alike.
Events in, decisions out, no I/O (docs/loop.md)."""
from scheduler.control import native

native.load()  # first: the compiled controller, when it was built from this source (see native)
from scheduler.control.controller import ControlConfig, FloorController  # noqa: E402
from scheduler.control.events import (CellDown, CellUp, Completed, Decision, DecisionLog, Failed, PoolFull, Ready, Started, Tick)  # noqa: E402
from scheduler.control.plan import ControlPlan, cached_control_plan, control_plan  # noqa: E402

POLICIES = ("rule", "blind", "repair", "replan")

__all__ = ["CellDown", "CellUp", "Completed", "ControlConfig", "ControlPlan", "Decision", "DecisionLog", "Failed", "FloorController",
           "POLICIES", "PoolFull", "Ready", "Started", "Tick", "cached_control_plan", "control_plan"]
