"""The GRBL emulator's motion model against the firmware's planner/stepper arithmetic, and its receive buffer."""
from __future__ import annotations

import math
import time

import pytest
import serial

from hardware.grbl.motion import Motion
from hardware.grbl.settings import Settings
from tests.hardware.conftest import run_emulator


def run_until_empty(motion: Motion, dt: float = 0.001) -> float:
    elapsed = 0.0
    while motion.blocks:
        motion.advance(dt)
        elapsed += dt
    return elapsed


def test_a_short_move_is_a_triangle_of_the_default_acceleration():
    """4 mm at F600 with $120=10 mm/s²: never reaches 10 mm/s; accelerates over 2 mm, brakes over 2 mm."""
    motion = Motion(Settings())
    motion.plan((4.0, 0.0, 0.0), 600.0)
    expected = 2 * math.sqrt(2 * 2.0 / 10.0)  # 2·sqrt(2d/a) = 1.265 s
    assert run_until_empty(motion) == pytest.approx(expected, rel=0.01)
    assert motion.position == [4.0, 0.0, 0.0]


def test_a_long_move_cruises_at_the_axis_max_rate():
    """F600 is above $110=500 mm/min: the block runs at 8.33 mm/s, with 0.833 s ramps at both ends."""
    motion = Motion(Settings())
    motion.plan((100.0, 0.0, 0.0), 600.0)
    v, a = 500 / 60, 10.0
    expected = 100 / v + v / a  # cruise time for the whole length plus one ramp's extra
    assert run_until_empty(motion) == pytest.approx(expected, rel=0.01)


def test_collinear_blocks_do_not_stop_at_their_junctions_but_corners_slow_down():
    straight, corner = Motion(Settings()), Motion(Settings())
    for i in range(1, 11):
        straight.plan((float(i), 0.0, 0.0), 600.0)
        corner.plan((float(i), float(i % 2), 0.0), 600.0)
    one_block = Motion(Settings())
    one_block.plan((10.0, 0.0, 0.0), 600.0)
    assert run_until_empty(straight) == pytest.approx(run_until_empty(one_block), rel=0.02)
    assert run_until_empty(corner) > 2 * run_until_empty(one_block)


def test_a_feed_hold_decelerates_then_holds_and_resumes_only_once_settled():
    motion = Motion(Settings())
    motion.plan((100.0, 0.0, 0.0), 600.0)
    motion.advance(2.0)
    speed, where = motion.speed, motion.position[0]
    motion.feed_hold()
    assert not motion.resume()  # Hold:1: cycle start is ignored
    elapsed = 0.0
    while not motion.hold_complete:
        motion.advance(0.001)
        elapsed += 0.001
    assert elapsed == pytest.approx(speed / 10.0, rel=0.02)  # v / a
    assert motion.position[0] - where == pytest.approx(speed ** 2 / 20.0, rel=0.02)  # v² / 2a
    motion.advance(1.0)
    assert motion.speed == 0.0 and motion.blocks  # held: still there, not moving
    assert motion.resume()
    run_until_empty(motion)
    assert motion.position == [100.0, 0.0, 0.0]


def test_feed_override_and_settings_change_the_timing():
    slow, fast = Settings(), Settings()
    fast.store(120, 100.0)
    a, b = Motion(slow), Motion(fast)
    a.plan((4.0, 0.0, 0.0), 600.0)
    b.plan((4.0, 0.0, 0.0), 600.0)
    assert run_until_empty(b) < run_until_empty(a) / 2
    c = Motion(Settings())
    c.feed_override = 50
    c.plan((4.0, 0.0, 0.0), 120.0)
    assert run_until_empty(c) == pytest.approx(4.0 / 1.0 + 0.1, rel=0.02)  # 60 mm/min: 1 mm/s, ramps of 0.1 s


def test_a_sender_that_ignores_the_buffer_loses_bytes():
    """Why character counting matters: 300 bytes at once overflow the 128-byte receive buffer."""
    lines = b"".join(b"G1 X%d F60000\n" % i for i in range(25))
    with run_emulator("hardware.grbl.emulator", "--time-scale", "0.001") as path, serial.Serial(path, 115200, timeout=0.1) as port:
        time.sleep(0.1)
        port.reset_input_buffer()
        port.write(lines)
        time.sleep(0.5)
        replies = port.read(4096).decode().split()
    assert sum(r == "ok" or r.startswith("error") for r in replies) < 25
