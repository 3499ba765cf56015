"""The floor controller: between a plan and the cells, for the twin and the dispatcher alike.
Events in, decisions out, no I/O (docs/loop.md)."""
from scheduler.control.controller import ControlConfig, FloorController
from scheduler.control.events import (CellDown, CellUp, Completed, Decision, DecisionLog, Failed, PoolFull, Ready, Started, Tick)
from scheduler.control.plan import ControlPlan, cached_control_plan, control_plan

POLICIES = ("rule", "blind", "repair", "replan")

__all__ = ["CellDown", "CellUp", "Completed", "ControlConfig", "ControlPlan", "Decision", "DecisionLog", "Failed", "FloorController",
           "POLICIES", "PoolFull", "Ready", "Started", "Tick", "cached_control_plan", "control_plan"]
