"""GRBL 1.1's g-code parser (gcode.c's gc_execute_line), pure: a cleaned line and the parser state in, the
new state and the actions to carry out in order out, or GcodeError with the firmware's error code.

The checks run in gcode.c's order, because that order decides which error a line with several faults
gets: word import (letters, numbers, modal groups, repeats, negative F/N/P/T/S), then the numbered
checks of STEP 3 (feed rate mode, dwell, plane, units, G43.1, coordinate system, G10/G28/G30/G92/G53,
motion modes and arcs, unused words). The state changes only when the whole block passes.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Union

from hardware.grbl.settings import COORD_G28, COORD_G30, N_AXIS, N_COORDINATE_SYSTEM, Parameters, Settings

MM_PER_INCH = 25.4
MAX_LINE_NUMBER = 10_000_000
MAX_TOOL_NUMBER = 255
TOOL_LENGTH_OFFSET_AXIS = 2  # Z
ARC_ANGULAR_TRAVEL_EPSILON = 5e-7
PLANES = {17: (0, 1, 2), 18: (2, 0, 1), 19: (1, 2, 0)}  # axis_0, axis_1, linear axis

# Modal groups (gcode.h): a block may hold one command of each.
_G_GROUP = {4: "G0", 10: "G0", 28: "G0", 30: "G0", 53: "G0", 92: "G0", 0: "G1", 1: "G1", 2: "G1", 3: "G1", 38: "G1",
            80: "G1", 17: "G2", 18: "G2", 19: "G2", 90: "G3", 91: "G3", 93: "G5", 94: "G5", 20: "G6", 21: "G6",
            40: "G7", 43: "G8", 49: "G8", 54: "G12", 55: "G12", 56: "G12", 57: "G12", 58: "G12", 59: "G12", 61: "G13"}
_M_GROUP = {0: "M4", 1: "M4", 2: "M4", 30: "M4", 3: "M7", 4: "M7", 5: "M7", 8: "M8", 9: "M8"}
_VALUE_LETTERS = set("FIJKLNPRSTXYZ")
_NON_NEGATIVE = set("FNPTS")


class GcodeError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Modal:
    motion: str = "G0"  # G0 G1 G2 G3 G38.2 G38.3 G38.4 G38.5 G80
    coord_select: int = 0  # G54 + n
    plane: int = 17
    units: int = 21
    distance: int = 90
    feed_mode: int = 94
    tool_length: str = "G49"  # or G43.1
    program_flow: str = ""  # M0 / M2 / M30 while executing
    spindle: int = 5  # M3 M4 M5
    coolant: frozenset[int] = frozenset()  # {8}: flood (M7 mist is a compile option, off by default)


@dataclass
class ParserState:
    modal: Modal = field(default_factory=Modal)
    feed_rate: float = 0.0
    spindle_speed: float = 0.0
    tool: int = 0
    line_number: int = 0
    position: list[float] = field(default_factory=lambda: [0.0] * N_AXIS)  # machine coordinates, mm
    coord_system: list[float] = field(default_factory=lambda: [0.0] * N_AXIS)  # active G54-G59 offset
    coord_offset: list[float] = field(default_factory=lambda: [0.0] * N_AXIS)  # G92
    tool_length_offset: float = 0.0

    def wco(self) -> list[float]:
        wco = [self.coord_system[i] + self.coord_offset[i] for i in range(N_AXIS)]
        wco[TOOL_LENGTH_OFFSET_AXIS] += self.tool_length_offset
        return wco

    def report(self) -> str:
        """`$G`'s `[GC:…]` line (report.c report_gcode_modes)."""
        m = self.modal
        parts = [m.motion, f"G{54 + m.coord_select}", f"G{m.plane}", f"G{m.units}", f"G{m.distance}", f"G{m.feed_mode}"]
        if m.program_flow:
            parts.append(m.program_flow)
        parts.append(f"M{m.spindle}")
        parts.append("M8" if 8 in m.coolant else "M9")
        parts += [f"T{self.tool}", f"F{self.feed_rate:.0f}", f"S{self.spindle_speed:.0f}"]
        return "[GC:" + " ".join(parts) + "]"


# Actions, carried out by the machine in this order.
@dataclass(frozen=True)
class Move:
    target: tuple[float, ...]
    feed: float | None  # mm/min; None: rapid at the axes' max rate
    inverse_time: bool = False  # feed is 1/min for the whole block (G93)
    jog: bool = False


@dataclass(frozen=True)
class Dwell:
    seconds: float


@dataclass(frozen=True)
class Sync:
    """Wait until the planner is empty (spindle, coolant, program flow)."""


@dataclass(frozen=True)
class Probe:
    target: tuple[float, ...]
    feed: float
    away: bool
    no_error: bool


@dataclass(frozen=True)
class ProgramFlow:
    command: str  # M0, M2, M30


Action = Union[Move, Dwell, Sync, Probe, ProgramFlow]


def read_float(line: str, pos: int) -> tuple[float, int] | None:
    """nuts_bolts.c read_float: optional sign, digits with at most one point, no exponent; None without a digit."""
    start = pos
    if pos < len(line) and line[pos] in "+-":
        pos += 1
    digits = 0
    point = False
    while pos < len(line):
        char = line[pos]
        if char.isdigit():
            digits += 1
        elif char == "." and not point:
            point = True
        else:
            break
        pos += 1
    if not digits:
        return None
    return float(line[start:pos]), pos


@dataclass
class _Block:
    modal: Modal
    non_modal: str = ""  # G4 G10 G28 G28.1 G30 G30.1 G53 G92 G92.1
    values: dict[str, float] = field(default_factory=dict)
    axis_command: str = ""  # "", non_modal, motion, tool_length
    groups: set[str] = field(default_factory=set)


def execute(line: str, state: ParserState, settings: Settings, params: Parameters, jog: bool = False,
            check_mode: bool = False) -> tuple[ParserState, list[Action]]:
    """gc_execute_line. `line` is cleaned (no spaces or comments, upper case); for `$J=` pass the text after `=`."""
    block = _import_words(line, state, jog)
    new, actions = _check_and_execute(block, state, settings, params, jog, check_mode)
    return new, actions


def _import_words(line: str, state: ParserState, jog: bool) -> _Block:
    """STEP 2: letters and numbers, modal group violations, repeated words, negative values."""
    block = _Block(copy.deepcopy(state.modal))
    if jog:
        block.modal.motion, block.modal.feed_mode = "G1", 94
    pos = 0
    while pos < len(line):
        letter = line[pos]
        if not "A" <= letter <= "Z":
            raise GcodeError(1)
        number = read_float(line, pos + 1)
        if number is None:
            raise GcodeError(2)
        value, pos = number
        int_value = math.trunc(value)
        mantissa = round(100 * (value - int_value))
        if letter == "G":
            _g_word(block, int_value, mantissa)
        elif letter == "M":
            _m_word(block, int_value, mantissa)
        else:
            if letter not in _VALUE_LETTERS:
                raise GcodeError(20)
            if letter == "T" and value > MAX_TOOL_NUMBER:
                raise GcodeError(38)
            if letter in block.values:
                raise GcodeError(25)
            if letter in _NON_NEGATIVE and value < 0:
                raise GcodeError(4)
            block.values[letter] = value
    return block


def _g_word(block: _Block, number: int, mantissa: int) -> None:
    if number in (10, 28, 30, 92):
        if mantissa == 0:
            if block.axis_command:
                raise GcodeError(24)
            block.axis_command = "non_modal"
    if number in (4, 10, 28, 30, 53, 92):
        if number in (28, 30, 92):
            if mantissa not in (0, 10):
                raise GcodeError(20)
            block.non_modal = f"G{number}" + (".1" if mantissa == 10 else "")
            mantissa = 0
        else:
            block.non_modal = f"G{number}"
    elif number in (0, 1, 2, 3, 38, 80):
        if number != 80:
            if block.axis_command:
                raise GcodeError(24)
            block.axis_command = "motion"
        if number == 38:
            if mantissa not in (20, 30, 40, 50):
                raise GcodeError(20)
            block.modal.motion = f"G38.{mantissa // 10}"
            mantissa = 0
        else:
            block.modal.motion = f"G{number}"
    elif number in (17, 18, 19):
        block.modal.plane = number
    elif number in (90, 91):
        if mantissa == 0:
            block.modal.distance = number
        else:
            if mantissa != 10 or number == 90:
                raise GcodeError(20)  # G90.1 unsupported; G91.1 (incremental IJK) is GRBL's only mode
            mantissa = 0
            _group(block, "G4")
            return
    elif number in (93, 94):
        block.modal.feed_mode = number
    elif number in (20, 21):
        block.modal.units = number
    elif number == 40:
        pass  # cutter compensation is always off; accepted for program headers
    elif number in (43, 49):
        if block.axis_command:
            raise GcodeError(24)
        block.axis_command = "tool_length"
        if number == 49:
            block.modal.tool_length = "G49"
        elif mantissa == 10:
            block.modal.tool_length = "G43.1"
        else:
            raise GcodeError(20)
        mantissa = 0
    elif 54 <= number <= 59:
        block.modal.coord_select = number - 54
    elif number == 61:
        if mantissa != 0:
            raise GcodeError(20)
    else:
        raise GcodeError(20)
    if mantissa > 0:
        raise GcodeError(23)
    _group(block, _G_GROUP[number])


def _m_word(block: _Block, number: int, mantissa: int) -> None:
    if mantissa > 0:
        raise GcodeError(23)
    if number not in _M_GROUP:
        raise GcodeError(20)
    if number in (0, 2, 30):
        block.modal.program_flow = f"M{number}"
    elif number in (3, 4, 5):
        block.modal.spindle = number
    elif number == 8:
        block.modal.coolant = block.modal.coolant | {8}
    elif number == 9:
        block.modal.coolant = frozenset()
    _group(block, _M_GROUP[number])


def _group(block: _Block, group: str) -> None:
    if group in block.groups:
        raise GcodeError(21)
    block.groups.add(group)


def _check_and_execute(block: _Block, state: ParserState, settings: Settings, params: Parameters, jog: bool,
                       check_mode: bool) -> tuple[ParserState, list[Action]]:
    """STEP 3 (error checks, in gcode.c's numbered order) and STEP 4 (update state, emit actions)."""
    v = dict(block.values)
    used: set[str] = set()
    axis_words = [i for i, a in enumerate("XYZ") if a in v]
    if axis_words and not block.axis_command:
        block.axis_command = "motion"
    if "N" in v and v["N"] > MAX_LINE_NUMBER:
        raise GcodeError(27)
    inches = block.modal.units == 20
    # [2, 3] feed rate mode and feed rate
    feed = v.get("F", 0.0)
    if jog:
        if "F" not in v:
            raise GcodeError(22)
        if inches:
            feed *= MM_PER_INCH
    elif block.modal.feed_mode == 93:
        if block.axis_command == "motion" and block.modal.motion not in ("G80", "G0") and "F" not in v:
            raise GcodeError(22)
    elif state.modal.feed_mode == 94:
        if "F" in v:
            if inches:
                feed *= MM_PER_INCH
        else:
            feed = state.feed_rate
    speed = v.get("S", state.spindle_speed)
    # [10] dwell
    if block.non_modal == "G4":
        if "P" not in v:
            raise GcodeError(28)
        used.add("P")
    axis_0, axis_1, axis_linear = PLANES[block.modal.plane]
    xyz = [v.get(a, 0.0) * (MM_PER_INCH if inches else 1.0) for a in "XYZ"]
    # [14] G43.1 applies to the tool length axis only
    if block.axis_command == "tool_length" and block.modal.tool_length == "G43.1":
        if axis_words != [TOOL_LENGTH_OFFSET_AXIS]:
            raise GcodeError(37)
    # [15] coordinate system
    coord_system = list(state.coord_system)
    if "G12" in block.groups and block.modal.coord_select != state.modal.coord_select:
        coord_system = list(params.coords[block.modal.coord_select])
    # [19] non-modal actions that use axis words their own way
    coord_write: tuple[int, list[float]] | None = None
    g92 = list(state.coord_offset)
    home_target: list[float] | None = None
    target = list(state.position)
    if block.non_modal == "G10":
        if not axis_words:
            raise GcodeError(26)
        if "P" not in v or "L" not in v:
            raise GcodeError(28)
        select = math.trunc(v["P"])
        if select > N_COORDINATE_SYSTEM:
            raise GcodeError(29)
        level = math.trunc(v["L"])
        if level != 20:
            if level != 2:
                raise GcodeError(20)
            if "R" in v:
                raise GcodeError(20)
        used |= {"L", "P"}
        index = select - 1 if select > 0 else block.modal.coord_select
        data = list(params.coords[index])
        for i in axis_words:
            if level == 20:
                data[i] = state.position[i] - state.coord_offset[i] - xyz[i]
                if i == TOOL_LENGTH_OFFSET_AXIS:
                    data[i] -= state.tool_length_offset
            else:
                data[i] = xyz[i]
        coord_write = (index, data)
    elif block.non_modal == "G92":
        if not axis_words:
            raise GcodeError(26)
        for i in axis_words:
            g92[i] = state.position[i] - coord_system[i] - xyz[i]
            if i == TOOL_LENGTH_OFFSET_AXIS:
                g92[i] -= state.tool_length_offset
    else:
        if block.axis_command != "tool_length" and axis_words:
            for i in axis_words:
                if block.non_modal == "G53":
                    target[i] = xyz[i]
                elif block.modal.distance == 90:
                    target[i] = xyz[i] + coord_system[i] + state.coord_offset[i]
                    if i == TOOL_LENGTH_OFFSET_AXIS:
                        target[i] += state.tool_length_offset
                else:
                    target[i] = state.position[i] + xyz[i]
        if block.non_modal in ("G28", "G30"):
            home_target = list(params.coords[COORD_G28 if block.non_modal == "G28" else COORD_G30])
            if axis_words:
                for i in range(N_AXIS):
                    if i not in axis_words:
                        home_target[i] = state.position[i]
            else:
                block.axis_command = ""
        elif block.non_modal == "G53" and block.modal.motion not in ("G0", "G1"):
            raise GcodeError(30)
    # [20] motion modes
    arc: tuple[list[float], float, bool] | None = None
    if block.modal.motion == "G80":
        if axis_words:
            raise GcodeError(31)
    elif block.axis_command == "motion":
        if block.modal.motion == "G0":
            if not axis_words:
                block.axis_command = ""
        else:
            if feed == 0.0:
                raise GcodeError(22)
            if block.modal.motion == "G1":
                if not axis_words:
                    block.axis_command = ""
            elif block.modal.motion in ("G2", "G3"):
                arc = _check_arc(block, v, used, state, target, axis_words, axis_0, axis_1, inches)
            else:  # G38.x
                if not axis_words:
                    raise GcodeError(26)
                if target == state.position:
                    raise GcodeError(33)
    # [0] unused words
    used |= {"N", "F"} if jog else {"N", "F", "S", "T"}
    if block.axis_command:
        used |= {"X", "Y", "Z"}
    if set(v) - used:
        raise GcodeError(36)
    if jog:
        if block.groups - {"G3", "G6", "G0"} or block.non_modal not in ("", "G53"):
            raise GcodeError(16)
        new = copy.deepcopy(state)
        new.position = target
        return new, [Move(tuple(target), feed, jog=True)]
    return _execute(block, state, v, feed, speed, target, coord_system, coord_write, g92, home_target, arc,
                    xyz, settings, params, check_mode)


def _check_arc(block: _Block, v: dict[str, float], used: set[str], state: ParserState, target: list[float],
               axis_words: list[int], axis_0: int, axis_1: int, inches: bool) -> tuple[list[float], float, bool]:
    """The G2/G3 checks: axis words in the plane, radius geometry or offsets that agree within 0.005 mm / 0.1 %."""
    if not axis_words:
        raise GcodeError(26)
    if axis_0 not in axis_words and axis_1 not in axis_words:
        raise GcodeError(32)
    x = target[axis_0] - state.position[axis_0]
    y = target[axis_1] - state.position[axis_1]
    offset = [0.0] * N_AXIS
    if "R" in v:
        used.add("R")
        if target == state.position:
            raise GcodeError(33)
        r = v["R"] * (MM_PER_INCH if inches else 1.0)
        h_x2_div_d = 4.0 * r * r - x * x - y * y
        if h_x2_div_d < 0:
            raise GcodeError(34)
        h_x2_div_d = -math.sqrt(h_x2_div_d) / math.hypot(x, y)
        if block.modal.motion == "G3":
            h_x2_div_d = -h_x2_div_d
        if r < 0:
            h_x2_div_d, r = -h_x2_div_d, -r
        offset[axis_0] = 0.5 * (x - y * h_x2_div_d)
        offset[axis_1] = 0.5 * (y + x * h_x2_div_d)
    else:
        letters = "IJK"
        if letters[axis_0] not in v and letters[axis_1] not in v:
            raise GcodeError(35)
        used |= {"I", "J", "K"}
        for i, letter in enumerate(letters):
            offset[i] = v.get(letter, 0.0) * (MM_PER_INCH if inches else 1.0)
        target_r = math.hypot(x - offset[axis_0], y - offset[axis_1])
        r = math.hypot(offset[axis_0], offset[axis_1])
        delta_r = abs(target_r - r)
        if delta_r > 0.005 and (delta_r > 0.5 or delta_r > 0.001 * r):
            raise GcodeError(33)
    return offset, r, block.modal.motion == "G2"


def _execute(block: _Block, state: ParserState, v: dict[str, float], feed: float, speed: float, target: list[float],
             coord_system: list[float], coord_write: tuple[int, list[float]] | None, g92: list[float],
             home_target: list[float] | None, arc: tuple[list[float], float, bool] | None, xyz: list[float],
             settings: Settings, params: Parameters, check_mode: bool) -> tuple[ParserState, list[Action]]:
    """STEP 4, in gcode.c's order of execution."""
    new = copy.deepcopy(state)
    actions: list[Action] = []
    m = block.modal
    new.line_number = int(v.get("N", 0))
    new.modal.feed_mode = m.feed_mode
    new.feed_rate = feed
    if speed != state.spindle_speed and state.modal.spindle != 5:
        actions.append(Sync())
    new.spindle_speed = speed
    if "T" in v:
        new.tool = int(v["T"])
    if m.spindle != state.modal.spindle:
        actions.append(Sync())
        new.modal.spindle = m.spindle
    if m.coolant != state.modal.coolant:
        actions.append(Sync())
        new.modal.coolant = m.coolant
    if block.non_modal == "G4":
        actions.append(Dwell(v["P"]))
    new.modal.plane, new.modal.units = m.plane, m.units
    if block.axis_command == "tool_length":
        new.modal.tool_length = m.tool_length
        new.tool_length_offset = 0.0 if m.tool_length == "G49" else xyz[TOOL_LENGTH_OFFSET_AXIS]
    if m.coord_select != state.modal.coord_select:
        new.modal.coord_select = m.coord_select
        new.coord_system = list(coord_system)
    new.modal.distance = m.distance
    if coord_write is not None:
        index, data = coord_write
        params.coords[index] = data
        if new.modal.coord_select == index:
            new.coord_system = list(data)
    elif home_target is not None:
        if block.axis_command:
            actions.append(Move(tuple(target), None))
        actions.append(Move(tuple(home_target), None))
        new.position = list(home_target)
    elif block.non_modal in ("G28.1", "G30.1"):
        params.coords[COORD_G28 if block.non_modal == "G28.1" else COORD_G30] = list(state.position)
    elif block.non_modal == "G92":
        new.coord_offset = g92
    elif block.non_modal == "G92.1":
        new.coord_offset = [0.0] * N_AXIS
    new.modal.motion = m.motion
    if m.motion != "G80" and block.axis_command == "motion":
        inverse = m.feed_mode == 93
        if m.motion == "G0":
            actions.append(Move(tuple(target), None))
        elif m.motion == "G1":
            actions.append(Move(tuple(target), feed, inverse))
        elif arc is not None:
            actions += _arc_moves(new.position, target, arc, feed, inverse, m.plane, settings)
        else:
            actions.append(Probe(tuple(target), feed, m.motion in ("G38.4", "G38.5"), m.motion in ("G38.3", "G38.5")))
        new.position = list(target)
    if m.feed_mode == 93:
        new.feed_rate = 0.0  # inverse time: F is per block, never carried over
    if m.program_flow:
        actions.append(ProgramFlow(m.program_flow))
        if m.program_flow in ("M2", "M30"):
            # Program end resets a subset of modes (LinuxCNC's rule, as gcode.c follows it).
            new.modal.motion, new.modal.plane, new.modal.distance, new.modal.feed_mode = "G1", 17, 90, 94
            new.modal.coord_select, new.modal.spindle, new.modal.coolant = 0, 5, frozenset()
            if not check_mode:
                new.coord_system = list(params.coords[0])
        new.modal.program_flow = ""
    return new, actions


def _arc_moves(position: list[float], target: list[float], arc: tuple[list[float], float, bool], feed: float,
               inverse: bool, plane: int, settings: Settings) -> list[Action]:
    """motion_control.c mc_arc: chords short enough that none strays more than $12 from the true arc."""
    offset, radius, clockwise = arc
    axis_0, axis_1, axis_linear = PLANES[plane]
    center = (position[axis_0] + offset[axis_0], position[axis_1] + offset[axis_1])
    r0, r1 = -offset[axis_0], -offset[axis_1]
    rt0, rt1 = target[axis_0] - center[0], target[axis_1] - center[1]
    travel = math.atan2(r0 * rt1 - r1 * rt0, r0 * rt0 + r1 * rt1)
    if clockwise and travel >= -ARC_ANGULAR_TRAVEL_EPSILON:
        travel -= 2 * math.pi
    elif not clockwise and travel <= ARC_ANGULAR_TRAVEL_EPSILON:
        travel += 2 * math.pi
    tolerance = settings[12]
    segments = math.floor(abs(0.5 * travel * radius) / math.sqrt(tolerance * (2 * radius - tolerance)))
    moves: list[Action] = []
    if segments:
        if inverse:
            feed *= segments
        linear = (target[axis_linear] - position[axis_linear]) / segments
        for i in range(1, segments):
            theta = i * travel / segments
            point = list(position)
            point[axis_0] = center[0] + r0 * math.cos(theta) - r1 * math.sin(theta)
            point[axis_1] = center[1] + r0 * math.sin(theta) + r1 * math.cos(theta)
            point[axis_linear] = position[axis_linear] + i * linear
            moves.append(Move(tuple(point), feed, inverse))
    moves.append(Move(tuple(target), feed, inverse))
    return moves
