"""GRBL 1.1's motion, pure and stepped by a clock: the planner's block buffer (planner.c) and the stepper's
velocity profile (stepper.c), enough to reproduce when moves end and how a feed hold stops them.

Each block has a nominal speed (programmed feed × override, capped by $110-$112 along its direction,
or the max rate for rapids), an acceleration ($120-$122 along its direction) and a junction speed with
the block before it (planner.c's junction-deviation rule with $11). Every step the speed allowed at the
current point is the most from which the machine can still slow to each later junction and to a stop at
the end of the buffer (planner.c's backward pass); the machine accelerates towards it at the block's
acceleration (the trapezoid). A feed hold decelerates to zero (Hold:1) and then holds (Hold:0).
"""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

from hardware.grbl.settings import N_AXIS, Settings

BLOCK_BUFFER_SIZE = 16  # planner.h; the ring buffer holds one fewer
PLANNER_BLOCKS = BLOCK_BUFFER_SIZE - 1
MINIMUM_JUNCTION_SPEED = 0.0
MINIMUM_FEED_RATE = 1.0  # mm/min (config.h)
SOME_LARGE_VALUE = 1.0e38
STEP_S = 0.001  # integration step: the speed follows the trapezoid to within acceleration × 1 ms


@dataclass
class Block:
    target: tuple[float, ...]
    unit: tuple[float, ...]
    millimeters: float
    programmed: float  # mm/min before overrides; 0 for a rapid
    rapid: bool
    acceleration: float  # mm/s²
    max_rate: float  # mm/min along the direction
    junction_max: float = 0.0  # mm/s, with the block before
    jog: bool = False
    done: float = 0.0  # mm travelled

    @property
    def remaining(self) -> float:
        return self.millimeters - self.done


@dataclass
class Motion:
    settings: Settings
    position: list[float] = field(default_factory=lambda: [0.0] * N_AXIS)
    blocks: collections.deque[Block] = field(default_factory=collections.deque)
    speed: float = 0.0  # mm/s along the current block
    holding: bool = False  # a feed hold is decelerating or complete
    feed_override: int = 100
    rapid_override: int = 100

    @property
    def full(self) -> bool:
        return len(self.blocks) >= PLANNER_BLOCKS

    @property
    def moving(self) -> bool:
        return self.speed > 0.0

    @property
    def hold_complete(self) -> bool:
        return self.holding and self.speed == 0.0

    def plan(self, target: tuple[float, ...], feed: float | None, inverse_time: bool = False, jog: bool = False) -> bool:
        """planner.c plan_buffer_line; False for a zero-length move (GRBL drops it)."""
        start = self.blocks[-1].target if self.blocks else tuple(self.position)
        delta = [t - s for t, s in zip(target, start)]
        millimeters = math.sqrt(sum(d * d for d in delta))
        if millimeters == 0.0:
            return False
        unit = tuple(d / millimeters for d in delta)
        acceleration = self.settings.acceleration(unit)
        max_rate = self.settings.max_rate(unit)
        programmed = 0.0
        if feed is not None:
            programmed = feed * millimeters if inverse_time else feed
        block = Block(tuple(target), unit, millimeters, programmed, feed is None, acceleration, max_rate, jog=jog)
        previous = self.blocks[-1] if self.blocks else None
        if previous is None and self.speed == 0.0:
            block.junction_max = 0.0
        else:
            prev_unit = previous.unit if previous is not None else unit
            cos_theta = -sum(a * b for a, b in zip(prev_unit, unit))
            if cos_theta > 0.999999:
                block.junction_max = MINIMUM_JUNCTION_SPEED
            elif cos_theta < -0.999999:
                block.junction_max = SOME_LARGE_VALUE
            else:
                sin_theta_d2 = math.sqrt(0.5 * (1.0 - cos_theta))
                junction_acceleration = self.settings.acceleration(
                    tuple(b - a for a, b in zip(prev_unit, unit))  # planner.c uses the junction's unit vector
                )
                block.junction_max = math.sqrt(max(
                    MINIMUM_JUNCTION_SPEED ** 2,
                    junction_acceleration * self.settings[11] * sin_theta_d2 / (1.0 - sin_theta_d2),
                ))
        self.blocks.append(block)
        return True

    def nominal(self, block: Block) -> float:
        """mm/s the block runs at, with overrides applied (planner.c plan_compute_profile_nominal_speed)."""
        if block.rapid:
            speed = block.max_rate * self.rapid_override / 100
        else:
            speed = block.programmed * (100 if block.jog else self.feed_override) / 100
            speed = min(max(speed, MINIMUM_FEED_RATE), block.max_rate)
        return speed / 60.0

    def _exit_speed(self) -> float:
        """Fastest speed at the end of the current block from which every later junction and the final stop of
        the buffer are still reachable (planner.c's backward pass over the blocks in the buffer)."""
        blocks = list(self.blocks)
        exit_speed = 0.0
        for i in range(len(blocks) - 1, 0, -1):
            block = blocks[i]
            entry = min(block.junction_max, self.nominal(block), math.sqrt(exit_speed ** 2 + 2 * block.acceleration * block.remaining))
            exit_speed = min(entry, self.nominal(blocks[i - 1]))
        return exit_speed

    def advance(self, dt: float, step: float = STEP_S) -> list[Block]:
        """Run the machine for `dt` seconds in steps of at most `step`; the blocks completed meanwhile.

        Each step accelerates towards the block's nominal speed if the machine could still stop in time
        for the exit speed after it, and decelerates at full acceleration otherwise (the trapezoid)."""
        finished: list[Block] = []
        while dt > 1e-12 and self.blocks:
            block = self.blocks[0]
            h = min(dt, step)
            a, s = block.acceleration, self.speed
            if self.holding:
                if s == 0.0:
                    break  # hold complete: time passes without motion
                new_speed = max(0.0, s - a * h)
            else:
                nominal = self.nominal(block)
                up = min(nominal, s + a * h) if s <= nominal else max(nominal, s - a * h)
                ahead = block.remaining - 0.5 * (s + up) * h
                exit_speed = self._exit_speed()
                new_speed = up if up * up <= exit_speed ** 2 + 2 * a * max(0.0, ahead) else max(0.0, s - a * h)
                if new_speed == 0.0 and s == 0.0:
                    new_speed = min(up, exit_speed) or a * h  # a sliver of block left at rest: finish it
            distance = 0.5 * (s + new_speed) * h
            if distance >= block.remaining:
                h = block.remaining / max(0.5 * (s + new_speed), 1e-9)  # the block ends inside this step
                distance = block.remaining
            self.speed = new_speed
            block.done += distance
            dt -= h
            if block.remaining <= 1e-9:
                self.position = list(block.target)
                finished.append(self.blocks.popleft())
                if not self.blocks:
                    self.speed = 0.0
            else:
                start = [t - u * block.millimeters for t, u in zip(block.target, block.unit)]
                self.position = [s0 + u * block.done for s0, u in zip(start, block.unit)]
        return finished

    def feed_hold(self) -> None:
        self.holding = True

    def resume(self) -> bool:
        """Cycle start; only a completed hold resumes (protocol.c: SUSPEND_HOLD_COMPLETE)."""
        if self.holding and self.speed == 0.0:
            self.holding = False
            return True
        return False

    def reset(self) -> None:
        self.blocks.clear()
        self.speed = 0.0
        self.holding = False

    def feed_speed(self) -> float:
        """FS's first number: the realtime rate in mm/min."""
        return self.speed * 60.0
