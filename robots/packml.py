"""PackML (ISA-TR88.00.02) machine states for one cell, with the commands that move between them."""
from __future__ import annotations

import enum


class State(str, enum.Enum):
    STOPPED = "Stopped"
    RESETTING = "Resetting"
    IDLE = "Idle"
    STARTING = "Starting"
    EXECUTE = "Execute"
    COMPLETING = "Completing"
    COMPLETE = "Complete"
    HOLDING = "Holding"
    HELD = "Held"
    UNHOLDING = "Unholding"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"
    UNSUSPENDING = "Unsuspending"
    STOPPING = "Stopping"
    ABORTING = "Aborting"
    ABORTED = "Aborted"
    CLEARING = "Clearing"


# Acting states finish on their own ("state complete", SC) into the next wait state.
_STATE_COMPLETE = {
    State.RESETTING: State.IDLE,
    State.STARTING: State.EXECUTE,
    State.EXECUTE: State.COMPLETING,
    State.COMPLETING: State.COMPLETE,
    State.HOLDING: State.HELD,
    State.UNHOLDING: State.EXECUTE,
    State.SUSPENDING: State.SUSPENDED,
    State.UNSUSPENDING: State.EXECUTE,
    State.STOPPING: State.STOPPED,
    State.ABORTING: State.ABORTED,
    State.CLEARING: State.STOPPED,
}

_RUNNING = {
    State.RESETTING, State.IDLE, State.STARTING, State.EXECUTE, State.COMPLETING, State.COMPLETE,
    State.HOLDING, State.HELD, State.UNHOLDING, State.SUSPENDING, State.SUSPENDED, State.UNSUSPENDING,
}

_COMMANDS: dict[str, dict[State, State]] = {
    "reset": {State.STOPPED: State.RESETTING, State.COMPLETE: State.RESETTING},
    "start": {State.IDLE: State.STARTING},
    "hold": {State.EXECUTE: State.HOLDING},
    "unhold": {State.HELD: State.UNHOLDING},
    "suspend": {State.EXECUTE: State.SUSPENDING},
    "unsuspend": {State.SUSPENDED: State.UNSUSPENDING},
    "stop": {s: State.STOPPING for s in _RUNNING},
    "abort": {s: State.ABORTING for s in State if s not in (State.ABORTING, State.ABORTED)},
    "clear": {State.ABORTED: State.CLEARING},
}


class InvalidTransition(RuntimeError):
    pass


class PackML:
    """One cell's PackML state. `command()` applies an operator/dispatcher command;
    `done()` signals that the current acting state has finished."""

    def __init__(self, state: State = State.STOPPED) -> None:
        self.state = state
        self.history: list[State] = [state]

    def command(self, name: str) -> State:
        table = _COMMANDS.get(name)
        if table is None:
            raise InvalidTransition(f"unknown PackML command {name!r}; valid: {', '.join(_COMMANDS)}")
        if self.state not in table:
            raise InvalidTransition(f"command {name!r} is not allowed in state {self.state.value}")
        return self._enter(table[self.state])

    def done(self) -> State:
        if self.state not in _STATE_COMPLETE:
            raise InvalidTransition(f"{self.state.value} is a wait state; it needs a command, not completion")
        return self._enter(_STATE_COMPLETE[self.state])

    def settle(self) -> State:
        """Complete acting states until a wait state (Idle, Execute-finished states, Stopped...)."""
        while self.state in _STATE_COMPLETE and self.state is not State.EXECUTE:
            self.done()
        return self.state

    def _enter(self, state: State) -> State:
        self.state = state
        self.history.append(state)
        return state
