"""GRBL 1.1h on a pty, written from the firmware's source (gnea/grbl) as the specification.

    python -m hardware.grbl.emulator [--baud 115200] [--time-scale X] [--delay S] [--disconnect-every N] [--down S] [--probe-z Z]

Prints the device path on its first line. What it models, and where in the firmware it comes from:
- serial.c: a 128-byte receive buffer holding 127 (bytes beyond are lost); realtime bytes `?` `!` `~`
  0x18 0x84 0x85 0x90-0xA1 acted on at once, other bytes >= 0x80 dropped;
- protocol.c: the line filter (spaces, control characters, `/`, comments dropped, lower case raised,
  79 characters or error:11), one `ok`/`error:N` per line (an empty line, `\\r` included, gets `ok`);
  the main loop stops taking lines during a hold; a reset prints the result of the line it interrupted
  (after `ALARM:3` when motion was cut), then the banner;
- gcode.c (hardware/grbl/gcode.py): the full 1.1 g-code set and its error codes in the firmware's order;
- planner.c / stepper.c (hardware/grbl/motion.py): trapezoids with $120-$122, $110-$112, $11 junctions,
  a 15-block buffer whose fullness holds back the `ok`; feed hold decelerates (Hold:1) then holds (Hold:0);
  cycle start resumes only from Hold:0;
- system.c / settings.c / report.c: `$$ $# $G $I $N $C $X $H $J= $RST= $SLP $Nx= $x=`, status reports
  per `$10` (MPos/WPos, Bf only when asked), FS, Pn, WCO and Ov on their refresh counters, A.
Not modelled: limit switches and the safety door input (no pins), spindle/laser PWM, homing's real
seek and locate moves (homing takes HOMING_S and ends at -$27 on every axis).
`--time-scale X` runs X real seconds per emulated second (0.001: a thousand times faster; 0: instant).
"""
from __future__ import annotations

import argparse
import asyncio
import math
from typing import Callable

from hardware.grbl import gcode as gc
from hardware.grbl import protocol as g
from hardware.grbl.motion import PLANNER_BLOCKS, Motion
from hardware.grbl.settings import REPORT_BUFFER, REPORT_MPOS, N_AXIS, Parameters, SettingError, Settings
from hardware.pty_port import PtyPort, announce_and_wait, device_path

VERSION = "1.1h"
BUILD_DATE = "20190830"
BANNER = f"Grbl {VERSION} ['$' for help]"
HELP = "[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]"
TICK_S = 0.005  # real seconds between motion updates
HOMING_S = 1.0
ALARM_DELAY_S = 0.5  # report.c report_alarm_message waits this long after printing ALARM:N
REPORT_WCO_REFRESH = {"busy": 30, "idle": 10}
REPORT_OVR_REFRESH = {"busy": 20, "idle": 10}
_BUSY = ("Run", "Hold", "Jog", "Home", "Door")
_DOUBLE = ("$", "G", "C", "X")


class GrblEmulator:
    def __init__(self, path: str, baud: int, time_scale: float, disconnect_every: int = 0, down_s: float = 0.2,
                 probe_z: float | None = None, delay: float = 0.0) -> None:
        self.port = PtyPort(path, baud, self._on_bytes, latency=delay)
        self.time_scale = time_scale
        self.disconnect_every = disconnect_every
        self.down_s = down_s
        self.probe_z = probe_z
        self.settings = Settings()
        self.params = Parameters()
        self.motion = Motion(self.settings)
        self.parser = gc.ParserState()
        self.state = "Alarm" if self.settings.flag(22) else "Idle"
        self.rx = bytearray()
        self.overflowed = 0  # bytes lost to a full receive buffer: a sender that counts characters never causes this
        self.answered = 0
        self.abort = False
        self.alarm_pending = False
        self.dwell_left = 0.0
        self.spindle_override = 100
        self.probe_position = [0.0] * N_AXIS
        self.probe_succeeded = 0
        self.probing: gc.Probe | None = None
        self.wco_counter = 0
        self.ovr_counter = 0
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- serial ------------------------------------------------------------------------

    def start(self) -> None:
        self.port.open()
        self._say("", BANNER)  # printed at power-up, as the real board does
        if self.state == "Alarm":
            self._say("[MSG:'$H'|'$X' to unlock]")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._main()), loop.create_task(self._stepper())]

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.port.close()
        self.port.remove_path()

    def _say(self, *lines: str) -> None:
        self.port.send("".join(f"{line}\r\n" for line in lines).encode("ascii"))

    def _on_bytes(self, data: bytes) -> None:
        for byte in data:
            if byte in b"?!~\x18" or byte >= 0x80:
                self._realtime(byte)
            elif len(self.rx) < g.RX_BUFFER_SIZE - 1:
                self.rx.append(byte)
            else:
                self.overflowed += 1
        self._changed.set()

    # --- realtime commands -------------------------------------------------------------

    def _realtime(self, byte: int) -> None:
        if byte == ord("?"):
            self._say(self._status_report())
        elif byte == ord("!"):
            self._feed_hold()
        elif byte == ord("~"):
            self._cycle_start()
        elif byte == 0x18:
            self._reset()
        elif byte == 0x85:
            if self.state == "Jog":
                self.motion.feed_hold()  # jog cancel: decelerate, then flush (in the stepper task)
        elif g.OVERRIDE_FIRST <= byte <= g.OVERRIDE_LAST:
            self._override(byte)
        # 0x84 (safety door) needs a door input, and other bytes >= 0x80 are dropped as serial.c does.

    def _feed_hold(self) -> None:
        if self.state in ("Alarm", "Check", "Sleep", "Door"):
            return
        if self.state in ("Run", "Jog", "Idle"):
            self.motion.feed_hold()
            if self.state != "Jog":
                self.state = "Hold"  # from Idle the hold is complete at once: Hold:0

    def _cycle_start(self) -> None:
        if self.state == "Hold" and self.motion.hold_complete:
            self.motion.resume()
            self.state = "Run" if self.motion.blocks else "Idle"
        elif self.state == "Idle" and self.motion.blocks:
            self.state = "Run"

    def _reset(self) -> None:
        """mc_reset: steppers killed mid-motion (cycle, jog, homing, or a hold still decelerating) lose position."""
        moving = self.state in ("Run", "Jog", "Home") or (self.state == "Hold" and not self.motion.hold_complete)
        if moving:
            self._say("ALARM:6" if self.state == "Home" else "ALARM:3")
            self.state = "Alarm"
            self.alarm_pending = True
        self.motion.reset()
        self.rx.clear()
        self.dwell_left = 0.0
        self.probing = None
        self.abort = True

    def _override(self, byte: int) -> None:
        m = self.motion
        if byte == 0x90:
            m.feed_override = 100
        elif 0x91 <= byte <= 0x94:
            m.feed_override += {0x91: 10, 0x92: -10, 0x93: 1, 0x94: -1}[byte]
            m.feed_override = min(200, max(10, m.feed_override))
        elif byte in (0x95, 0x96, 0x97):
            m.rapid_override = {0x95: 100, 0x96: 50, 0x97: 25}[byte]
        elif byte == 0x99:
            self.spindle_override = 100
        elif 0x9A <= byte <= 0x9D:
            self.spindle_override += {0x9A: 10, 0x9B: -10, 0x9C: 1, 0x9D: -1}[byte]
            self.spindle_override = min(200, max(10, self.spindle_override))
        elif byte == 0xA0 and (self.state in ("Idle", "Run", "Hold", "Jog")):
            coolant = set(self.parser.modal.coolant) ^ {8}
            self.parser.modal.coolant = frozenset(coolant)
        else:
            return
        self.ovr_counter = 0  # report the change at once

    # --- status report (report.c report_realtime_status) -------------------------------

    def _status_report(self) -> str:
        if self.state == "Hold":
            state = f"Hold:{0 if self.motion.hold_complete else 1}"
        else:
            state = self.state
        mask = int(self.settings[10])
        wco = self.parser.wco()
        position = list(self.motion.position)
        parts = [state]
        if mask & REPORT_MPOS:
            parts.append("MPos:" + _axes(position))
        else:
            parts.append("WPos:" + _axes([p - w for p, w in zip(position, wco)]))
        if mask & REPORT_BUFFER:
            parts.append(f"Bf:{PLANNER_BLOCKS - len(self.motion.blocks)},{g.RX_BUFFER_SIZE - len(self.rx)}")
        parts.append(f"FS:{self.motion.feed_speed():.0f},{self._spindle_rpm():.0f}")
        if self._probe_triggered():
            parts.append("Pn:P")
        busy = "busy" if self.state in _BUSY else "idle"
        if self.wco_counter > 0:
            self.wco_counter -= 1
        else:
            self.wco_counter = REPORT_WCO_REFRESH[busy] - 1
            if self.ovr_counter == 0:
                self.ovr_counter = 1  # Ov goes in the next report, not this one
            parts.append("WCO:" + _axes(wco))
        if self.ovr_counter > 0:
            self.ovr_counter -= 1
        else:
            self.ovr_counter = REPORT_OVR_REFRESH[busy] - 1
            parts.append(f"Ov:{self.motion.feed_override},{self.motion.rapid_override},{self.spindle_override}")
            accessories = {3: "S", 4: "C"}.get(self.parser.modal.spindle, "") + ("F" if 8 in self.parser.modal.coolant else "")
            if accessories:
                parts.append(f"A:{accessories}")
        return "<" + "|".join(parts) + ">"

    def _spindle_rpm(self) -> float:
        if self.parser.modal.spindle == 5 or self.parser.spindle_speed <= 0:
            return 0.0
        rpm = self.parser.spindle_speed * self.spindle_override / 100
        return min(max(rpm, self.settings[31]), self.settings[30])

    def _probe_triggered(self) -> bool:
        return self.probe_z is not None and self.motion.position[2] <= self.probe_z

    # --- the stepper: motion in emulated time ------------------------------------------

    async def _stepper(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(TICK_S)
            now = loop.time()
            dt = (now - last) / self.time_scale if self.time_scale > 0 else 1e9
            last = now
            self._step(dt)
            self._changed.set()

    def _step(self, dt: float) -> None:
        motion = self.motion
        if self.state in ("Run", "Jog", "Hold") and motion.blocks:
            before = list(motion.position)
            motion.advance(dt, step=max(0.001, dt / 500))
            if self.probing is not None:
                self._check_probe(before)
        if self.state == "Jog" and motion.hold_complete:
            # Jog cancel (or a feed hold during a jog): flush the jog and sync positions (protocol.c EXEC_CYCLE_STOP).
            motion.reset()
            self.parser.position = list(motion.position)
            self.state = "Idle"
        elif self.state in ("Run", "Jog") and not motion.blocks:
            self.state = "Idle"
        if self.dwell_left > 0 and self.state not in ("Hold", "Sleep"):
            self.dwell_left = max(0.0, self.dwell_left - dt)

    def _check_probe(self, before: list[float]) -> None:
        if self.probe_z is None or self.probing is None:
            return
        if (self.motion.position[2] <= self.probe_z) != self.probing.away:
            # Triggered: record where, stop (the firmware cancels the motion; overshoot is not modelled).
            z = self.probe_z
            self.motion.position = list(self.motion.position)
            if before[2] != self.motion.position[2]:
                self.motion.position[2] = z
            self.probe_position = list(self.motion.position)
            self.probe_succeeded = 1
            self.motion.reset()
            self.probing = None

    # --- the main loop (protocol.c protocol_main_loop) ----------------------------------

    async def _until(self, ready: Callable[[], bool]) -> bool:
        """Wait, as the firmware's checkpoints do, until `ready()` or a reset; False on a reset."""
        while not ready():
            if self.abort:
                return False
            self._changed.clear()
            await self._changed.wait()
        return not self.abort

    def _take_line(self) -> tuple[str, bool] | None:
        """protocol.c's filter over the receive buffer: (line, overflowed) for the first complete line."""
        for end, byte in enumerate(self.rx):
            if byte in b"\r\n":
                raw = bytes(self.rx[:end]).decode("ascii", errors="replace")
                del self.rx[: end + 1]
                cleaned = g.clean_gcode(raw)
                return cleaned[: g.LINE_LIMIT], len(cleaned) > g.LINE_LIMIT
        return None

    async def _main(self) -> None:
        while True:
            taken: list[tuple[str, bool]] = []

            def line_ready() -> bool:
                if self.state in ("Hold", "Sleep"):
                    return False  # suspended: the main loop is blocked in protocol_exec_rt_suspend
                item = self._take_line()
                if item is not None:
                    taken.append(item)
                return bool(taken)

            if await self._until(line_ready):
                line, overflow = taken[0]
                code = 11 if overflow else await self._line(line)
                if self.alarm_pending:
                    await asyncio.sleep(ALARM_DELAY_S * self.time_scale)
                self._say("ok" if code == 0 else f"error:{code}")
                self.answered += 1
                if self.disconnect_every and self.answered % self.disconnect_every == 0:
                    await self.port.disconnect(self.down_s)
            if self.abort:
                await self._reinitialise()

    async def _reinitialise(self) -> None:
        """main.c after a reset: fresh parser (work offsets reloaded), buffers empty, position kept, banner."""
        self.abort = False
        self.alarm_pending = False
        self.rx.clear()
        self.motion.reset()
        self.motion.feed_override = self.motion.rapid_override = self.spindle_override = 100
        position = list(self.motion.position)
        self.parser = gc.ParserState(position=position, coord_system=list(self.params.coords[0]))
        self.wco_counter = self.ovr_counter = 0
        if self.state not in ("Alarm", "Sleep"):
            self.state = "Idle"
        self._say("", BANNER)
        if self.state in ("Alarm", "Sleep"):
            self.state = "Alarm"
            self._say("[MSG:'$H'|'$X' to unlock]")
        else:
            await self._startup_lines()

    async def _startup_lines(self) -> None:
        for line in self.params.startup:
            if line:
                code = await self._gcode(line)
                self._say(f">{line}:" + ("ok" if code == 0 else f"error:{code}"))

    async def _line(self, line: str) -> int:
        if not line:
            return 0
        if line.startswith("$"):
            return await self._system(line)
        if self.state in ("Alarm", "Jog"):
            return 9
        return await self._gcode(line)

    async def _gcode(self, line: str, jog: bool = False) -> int:
        check = self.state == "Check"
        wco = self.parser.wco()
        try:
            self.parser, actions = gc.execute(line, self.parser, self.settings, self.params, jog=jog, check_mode=check)
        except gc.GcodeError as exc:
            return exc.code
        if self.parser.wco() != wco:
            self.wco_counter = 0  # system_flag_wco_change: the next report carries WCO
        if check:
            return 0  # check mode parses and updates the parser state; nothing moves
        for action in actions:
            if not await self._act(action, jog):
                break  # reset: the line still answers `ok`, as the firmware's does after its wait returns
        return 0

    async def _act(self, action: gc.Action, jog: bool) -> bool:
        if isinstance(action, gc.Move):
            if not await self._until(lambda: not self.motion.full):
                return False
            if self.motion.plan(action.target, action.feed, action.inverse_time, jog=action.jog):
                if self.state == "Idle":
                    self.state = "Jog" if jog else "Run"
            return True
        if isinstance(action, gc.Sync):
            return await self._synchronize()
        if isinstance(action, gc.Dwell):
            if not await self._synchronize():
                return False
            self.dwell_left = action.seconds
            return await self._until(lambda: self.dwell_left <= 0)
        if isinstance(action, gc.Probe):
            return await self._probe(action)
        if isinstance(action, gc.ProgramFlow):
            if not await self._synchronize():
                return False
            if action.command == "M0":
                self._feed_hold()
            else:
                self._say("[MSG:Pgm End]")
            return True
        return True

    async def _synchronize(self) -> bool:
        return await self._until(lambda: not self.motion.blocks and self.state not in ("Run", "Hold"))

    async def _probe(self, probe: gc.Probe) -> bool:
        """motion_control.c mc_probe_cycle: sync, check the pin, move until it changes, report [PRB:…]."""
        if not await self._synchronize():
            return False
        self.probe_succeeded = 0
        if self._probe_triggered() != probe.away:
            self._alarm(4)  # the pin is already in the state the cycle looks for; the parser stays where it was
            self.parser.position = list(self.motion.position)
            return True
        self.probing = probe
        self.motion.plan(probe.target, probe.feed)
        self.state = "Run"
        if not await self._synchronize():
            return False
        if self.probing is not None:  # reached the target without contact
            self.probing = None
            if probe.no_error:
                self.probe_position = list(self.motion.position)
            else:
                self._alarm(5)  # [PRB] keeps the last successful position
        self.parser.position = list(self.motion.position)
        self._say(f"[PRB:{_axes(self.probe_position)}:{self.probe_succeeded}]")
        return True

    def _alarm(self, code: int) -> None:
        self.motion.reset()
        self.state = "Alarm"
        self._say(f"ALARM:{code}")

    # --- `$` commands (system.c system_execute_line) ------------------------------------

    async def _system(self, line: str) -> int:
        if line == "$":
            self._say(HELP)
            return 0
        command = line[1]
        if command == "J":
            if self.state not in ("Idle", "Jog"):
                return 8
            if line[2:3] != "=":
                return 3
            return await self._jog(line[3:])
        if command in _DOUBLE:
            if len(line) != 2:
                return 3
            return self._double(command)
        if self.state not in ("Idle", "Alarm"):
            return 8
        if command == "#":
            if len(line) != 2:
                return 3
            self._report_parameters()
            return 0
        if command == "H":
            return await self._home(line)
        if command == "S":
            if line != "$SLP":
                return 3
            self.motion.reset()
            self.state = "Sleep"
            self._say("[MSG:Sleeping]")
            return 0
        if command == "I":
            if len(line) == 2:
                self._say(f"[VER:{VERSION}.{BUILD_DATE}:{self.params.build_info}]", f"[OPT:V,{PLANNER_BLOCKS},{g.RX_BUFFER_SIZE}]")
                return 0
            if line[2] == "=":
                self.params.build_info = line[3:]
                return 0
            return 3
        if command == "R":
            if len(line) != 6 or not line.startswith("$RST=") or line[5] not in "$#*":
                return 3
            self.params.restore(line[5], self.settings)
            self._say("[MSG:Restoring defaults]")
            self.abort = True  # mc_reset: not moving, so no alarm; `ok`, then the banner
            return 0
        if command == "N" and len(line) == 2:
            for index, startup in enumerate(self.params.startup):
                self._say(f"$N{index}={startup}")
            return 0
        if command == "N" and self.state != "Idle":
            return 8
        return await self._store(line)

    def _double(self, command: str) -> int:
        if command == "$":
            if self.state in ("Run", "Hold"):
                return 8
            self._say(*self.settings.report())
        elif command == "G":
            self._say(self.parser.report())
        elif command == "C":
            if self.state == "Check":
                self._say("[MSG:Disabled]")
                self.abort = True  # leaving check mode resets: `ok`, then the banner
            elif self.state != "Idle":
                return 8
            else:
                self.state = "Check"
                self._say("[MSG:Enabled]")
        elif command == "X" and self.state == "Alarm":
            self._say("[MSG:Caution: Unlocked]")
            self.state = "Idle"
        return 0

    async def _store(self, line: str) -> int:
        """`$N=value` settings and `$Nx=line` startup blocks."""
        startup = line[1] == "N"
        pos = 2 if startup else 1
        number = gc.read_float(line, pos)
        if number is None:
            return 2
        parameter, pos = number
        if line[pos:pos + 1] != "=":
            return 3
        pos += 1
        if startup:
            index = math.trunc(parameter)
            text = line[pos:]
            code = await self._gcode(text)  # the firmware runs the block to prove it valid
            if code == 0:
                if 0 <= index < len(self.params.startup):
                    self.params.startup[index] = text
            return code
        value = gc.read_float(line, pos)
        if value is None:
            return 2
        if value[1] != len(line) or parameter > 255:
            return 3
        try:
            self.settings.store(math.trunc(parameter), value[0])
        except SettingError as exc:
            return exc.code
        return 0

    def _report_parameters(self) -> None:
        lines = [f"[G{54 + i}:{_axes(self.params.coords[i])}]" for i in range(6)]
        lines += [f"[G28:{_axes(self.params.coords[6])}]", f"[G30:{_axes(self.params.coords[7])}]"]
        lines += [f"[G92:{_axes(self.parser.coord_offset)}]", f"[TLO:{self.parser.tool_length_offset:.3f}]"]
        lines.append(f"[PRB:{_axes(self.probe_position)}:{self.probe_succeeded}]")
        self._say(*lines)

    async def _home(self, line: str) -> int:
        if not self.settings.flag(22):
            return 5
        if len(line) > 3 or (len(line) == 3 and line[2] not in "XYZ"):
            return 3
        self.state = "Home"
        end = asyncio.get_running_loop().time() + HOMING_S * self.time_scale
        if not await self._until(lambda: asyncio.get_running_loop().time() >= end):
            return 0
        axes = range(N_AXIS) if len(line) == 2 else ["XYZ".index(line[2])]
        for axis in axes:
            self.motion.position[axis] = -self.settings[27]
        self.parser.position = list(self.motion.position)
        self.state = "Idle"
        if len(line) == 2:
            await self._startup_lines()
        return 0

    async def _jog(self, text: str) -> int:
        try:
            parser, actions = gc.execute(text, self.parser, self.settings, self.params, jog=True)
        except gc.GcodeError as exc:
            return exc.code
        (move,) = actions
        assert isinstance(move, gc.Move)
        if self.settings.flag(20) and any(t > 0 or t < -self.settings[130 + i] for i, t in enumerate(move.target)):
            return 15  # jog.c: a jog beyond the soft limits is refused, not alarmed
        if not await self._until(lambda: not self.motion.full):
            return 0
        self.parser.position = parser.position
        if self.motion.plan(move.target, move.feed, jog=True) and self.state == "Idle":
            self.state = "Jog"
        return 0


def _axes(values: list[float] | tuple[float, ...]) -> str:
    return ",".join(f"{v:.3f}" for v in values)


async def serve(args: argparse.Namespace) -> None:
    if args.time_scale < 0:
        raise SystemExit("--time-scale: must be >= 0")
    link = device_path(args.link, "grbl")
    if args.delay < 0:
        raise SystemExit("--delay: must be >= 0")
    emulator = GrblEmulator(link, args.baud, args.time_scale, args.disconnect_every, args.down, args.probe_z, args.delay)
    emulator.start()
    # The banner goes out after its line time; announce the path only once it is in the pty, so a driver that
    # opens the port at once does not take a late banner for a reset.
    await asyncio.sleep(max(0.0, emulator.port.clock.free_at - asyncio.get_running_loop().time()) + 0.01)

    async def cleanup() -> None:
        emulator.stop()

    await announce_and_wait(link, cleanup)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hardware.grbl.emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--time-scale", type=float, default=1.0, help="real seconds per emulated second (0.001: 1000x faster)")
    parser.add_argument("--disconnect-every", type=int, default=0, help="close the pty after every N answered lines")
    parser.add_argument("--down", type=float, default=0.2, help="seconds the device stays away on a disconnect")
    parser.add_argument("--delay", type=float, default=0.0, help="extra latency in seconds on every write (FTDI: 0.016)")
    parser.add_argument("--probe-z", type=float, default=None, help="the probe input triggers at or below this Z")
    parser.add_argument("--link", default=None, help="device path to create (default: a fresh temp path)")
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
