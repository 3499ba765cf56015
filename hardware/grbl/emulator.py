"""GRBL 1.1's serial behaviour on a pty, written from the reference, for testing the GRBL driver.

    python -m hardware.grbl.emulator [--baud 115200] [--time-scale X] [--disconnect-every N] [--down S]

Prints the device path on its first line. What it models: the 128-byte receive buffer (bytes
beyond it are lost, as on the real controller, which is why senders count characters); one
`ok`/`error:N` per line; realtime `?` `!` `~` 0x18 acted on at once; a 15-block planner
that makes `ok` wait when full; `G4` answering only after the planner ran empty and the
dwell passed; check mode; alarm lock after a reset during motion, `$X`/`$H` to leave it.
Moves take distance ÷ feed (G0 at a fixed rapid rate) times `--time-scale`. What it does not:
acceleration, arcs' true length, jogging, overrides (0x90–0x9D are accepted and ignored).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import math
import re
from dataclasses import dataclass

from hardware.grbl import protocol as g
from hardware.pty_port import PtyPort, announce_and_wait, device_path

PLANNER_BLOCKS = 15  # GRBL's 16-block ring buffer holds 15
RAPID_MM_PER_MIN = 1000.0  # stands in for the $110–$112 max rates
BANNER = "Grbl 1.1h ['$' for help]"
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)")
_SUPPORTED_G = {0, 1, 2, 3, 4, 17, 20, 21, 54, 90, 91, 94}
_SUPPORTED_M = {0, 2, 3, 4, 5, 8, 9, 30}
_WORD_LETTERS = set("GMXYZFPSTNIJKR")


class LineError(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@dataclass
class Block:
    target: tuple[float, float, float]
    seconds: float


class GrblEmulator:
    def __init__(self, path: str, baud: int, time_scale: float, disconnect_every: int = 0, down_s: float = 0.2) -> None:
        self.port = PtyPort(path, baud, self._on_bytes)
        self.time_scale = time_scale
        self.disconnect_every = disconnect_every
        self.down_s = down_s
        self.rx = bytearray()
        self.overflowed = 0  # bytes lost to a full receive buffer: a sender that counts characters never causes this
        self.planner: collections.deque[Block] = collections.deque()
        self.position = [0.0, 0.0, 0.0]
        self.state = "Idle"
        self.hold = False
        self.check_mode = False
        self.feed = 0.0
        self.motion = 0
        self.absolute = True
        self.answered = 0
        self._line_ready = asyncio.Event()
        self._planner_changed = asyncio.Event()
        self._resume = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- serial ------------------------------------------------------------------------

    def start(self) -> None:
        self.port.open()
        self._say(f"\r\n{BANNER}")  # printed at power-up, as the real board does
        self._start_tasks()

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.port.close()
        self.port.remove_path()

    def _start_tasks(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read_lines()), loop.create_task(self._run_planner())]

    def _say(self, *lines: str) -> None:
        self.port.send("".join(f"{line}\r\n" for line in lines).encode("ascii"))

    def _on_bytes(self, data: bytes) -> None:
        for byte in data:
            if byte in b"?!~\x18\x85" or g.OVERRIDE_FIRST <= byte <= g.OVERRIDE_LAST:
                self._realtime(byte)
            elif len(self.rx) < g.RX_BUFFER_SIZE - 1:
                self.rx.append(byte)
            else:
                self.overflowed += 1
        if b"\n" in self.rx:
            self._line_ready.set()

    def _realtime(self, byte: int) -> None:
        if byte == ord("?"):
            self._say(self._status_report())
        elif byte == ord("!") and self.state == "Run":
            self.hold, self.state = True, "Hold"
            self._resume.clear()
        elif byte == ord("~") and self.hold:
            self.hold = False
            self.state = "Run" if self.planner else "Idle"
            self._resume.set()
        elif byte == 0x18:
            self._soft_reset(alarm=self.state == "Run")

    def _status_report(self) -> str:
        state = "Hold:0" if self.state == "Hold" else self.state
        mpos = ",".join(f"{v:.3f}" for v in self.position)
        feed = self.feed if self.state == "Run" else 0
        return f"<{state}|MPos:{mpos}|Bf:{PLANNER_BLOCKS - len(self.planner)},{g.RX_BUFFER_SIZE - 1 - len(self.rx)}|FS:{feed:g},0>"

    def _soft_reset(self, alarm: bool) -> None:
        for task in self._tasks:
            task.cancel()
        self.rx.clear()
        self.planner.clear()
        self.hold = False
        self._resume.set()
        if alarm:
            self._say("ALARM:3")
        self._say("", BANNER)
        if alarm:
            self._say("[MSG:'$H'|'$X' to unlock]")
        self.state = "Alarm" if alarm or self.state == "Alarm" else "Idle"
        self.check_mode = False
        self._start_tasks()

    # --- lines -------------------------------------------------------------------------

    async def _read_lines(self) -> None:
        while True:
            if b"\n" not in self.rx:
                self._line_ready.clear()
                await self._line_ready.wait()
                continue
            end = self.rx.index(b"\n")
            raw = bytes(self.rx[:end]).decode("ascii", errors="replace")
            del self.rx[: end + 1]
            try:
                await self._execute_line(raw)
                self._say("ok")
            except LineError as exc:
                self._say(f"error:{exc.code}")
            self.answered += 1
            if self.disconnect_every and self.answered % self.disconnect_every == 0:
                await self.port.disconnect(self.down_s)

    async def _execute_line(self, raw: str) -> None:
        line = g.clean_gcode(raw)
        if len(line) > g.LINE_LIMIT:
            raise LineError(11)
        if not line:
            return
        if line.startswith("$"):
            await self._system(line)
            return
        if self.state == "Alarm":
            raise LineError(9)
        words = _words(line)
        if self.check_mode:
            return
        await self._gcode(words)

    async def _gcode(self, words: list[tuple[str, float]]) -> None:
        axes: dict[str, float] = {}
        dwell = False
        pause = 0.0
        motion = self.motion
        for letter, value in words:
            if letter == "G":
                if value == 4:
                    dwell = True
                elif value in (0, 1, 2, 3):
                    motion = int(value)
                elif value in (90, 91):
                    self.absolute = value == 90
            elif letter == "F":
                self.feed = value
            elif letter == "P":
                pause = value
            elif letter in "XYZ":
                axes[letter] = value
        if dwell:
            await self._synchronize()
            await asyncio.sleep(pause * self.time_scale)
            return
        if not axes:
            self.motion = motion
            return
        if motion in (1, 2, 3) and self.feed <= 0:
            raise LineError(22)
        self.motion = motion
        start = self.planner[-1].target if self.planner else tuple(self.position)
        target = tuple(
            (axes.get(axis, start[i] if self.absolute else 0.0) + (0.0 if self.absolute else start[i]))
            for i, axis in enumerate("XYZ")
        )
        rate = RAPID_MM_PER_MIN if motion == 0 else self.feed
        seconds = math.dist(start, target) / (rate / 60.0)
        while len(self.planner) >= PLANNER_BLOCKS:
            self._planner_changed.clear()
            await self._planner_changed.wait()  # full planner: GRBL holds the `ok` until a block finishes
        self.planner.append(Block(target, seconds))  # type: ignore[arg-type]
        self._planner_changed.set()

    async def _synchronize(self) -> None:
        while self.planner:
            self._planner_changed.clear()
            await self._planner_changed.wait()

    async def _run_planner(self) -> None:
        while True:
            if not self.planner:
                if self.state == "Run":
                    self.state = "Idle"
                self._planner_changed.clear()
                await self._planner_changed.wait()
                continue
            if self.state in ("Idle", "Check"):
                self.state = "Run"
            block = self.planner[0]
            remaining = block.seconds * self.time_scale
            while remaining > 0:
                if self.hold:
                    await self._resume.wait()
                step = min(remaining, 0.01)
                await asyncio.sleep(step)
                remaining -= step
            self.position = list(block.target)
            self.planner.popleft()
            self._planner_changed.set()

    async def _system(self, line: str) -> None:
        if line == "$X":
            if self.state == "Alarm":
                self.state = "Idle"
                self._say("[MSG:Caution: Unlocked]")
        elif line == "$H":
            self.state = "Home"
            await asyncio.sleep(0.05 * self.time_scale)
            self.position = [0.0, 0.0, 0.0]
            self.state = "Idle"
        elif line == "$G":
            distance = "G90" if self.absolute else "G91"
            self._say(f"[GC:G{self.motion} G54 G17 G21 {distance} G94 M5 M9 T0 F{self.feed:g} S0]")
        elif line == "$I":
            self._say("[VER:1.1h.20190830:]", "[OPT:V,15,128]")
        elif line == "$#":
            self._say("[G54:0.000,0.000,0.000]", "[G28:0.000,0.000,0.000]", "[TLO:0.000]", "[PRB:0.000,0.000,0.000:0]")
        elif line == "$$":
            self._say("$0=10", "$1=25", "$22=0", "$110=1000.000", "$111=1000.000", "$112=1000.000")
        elif line == "$C":
            if self.state == "Alarm":
                raise LineError(9)
            self.check_mode = not self.check_mode
            if self.check_mode:
                self.state = "Check"
                self._say("[MSG:Enabled]")
            else:
                self._say("[MSG:Disabled]", "ok")
                self.answered += 1
                self.state = "Idle"
                self._soft_reset(alarm=False)  # leaving check mode resets GRBL; this task is cancelled here
                await asyncio.sleep(0)
        else:
            raise LineError(3)


def _words(line: str) -> list[tuple[str, float]]:
    words = []
    pos = 0
    while pos < len(line):
        letter = line[pos]
        if not letter.isalpha():
            raise LineError(1)  # a value without its letter
        number = _NUMBER.match(line, pos + 1)
        if number is None:
            raise LineError(2)  # a letter without a valid number
        value = float(number.group(0))
        if letter not in _WORD_LETTERS:
            raise LineError(20)
        if letter == "G" and (value not in _SUPPORTED_G):
            raise LineError(20)
        if letter == "M" and (value not in _SUPPORTED_M):
            raise LineError(20)
        words.append((letter, value))
        pos = number.end()
    return words


async def serve(args: argparse.Namespace) -> None:
    if args.time_scale < 0:
        raise SystemExit("--time-scale: must be >= 0")
    link = device_path(args.link, "grbl")
    emulator = GrblEmulator(link, args.baud, args.time_scale, args.disconnect_every, args.down)
    emulator.start()

    async def cleanup() -> None:
        emulator.stop()

    await announce_and_wait(link, cleanup)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hardware.grbl.emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--time-scale", type=float, default=1.0, help="emulated seconds per real second of motion")
    parser.add_argument("--disconnect-every", type=int, default=0, help="close the pty after every N answered lines")
    parser.add_argument("--down", type=float, default=0.2, help="seconds the device stays away on a disconnect")
    parser.add_argument("--link", default=None, help="device path to create (default: a fresh temp path)")
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
