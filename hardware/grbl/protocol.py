"""GRBL 1.1 serial vocabulary, pure: split bytes into lines, classify each line, parse `<...>` status reports.

Shared by the GRBL driver and the GRBL emulator so that both read the same grammar; written
from the reference (docs: shared/reference/controllers.md, GRBL's doc/markdown/interface.md).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator, Union

RX_BUFFER_SIZE = 128  # GRBL's serial receive buffer (serial.h); one slot stays free, so it holds 127 bytes
LINE_BUFFER_SIZE = 80  # protocol.c's line[]: characters after spaces and comments are stripped, plus the terminator
LINE_LIMIT = LINE_BUFFER_SIZE - 1  # 79: the 80th character sets the overflow flag and the line gets error:11
MAX_LINE = 256  # longest line the splitter keeps; longer runs are noise and are cut

# Realtime one-byte commands (config.h CMD_*): they bypass the line buffer and are acted on at once.
STATUS_QUERY = b"?"
FEED_HOLD = b"!"
CYCLE_START = b"~"
SOFT_RESET = b"\x18"
SAFETY_DOOR = b"\x84"
JOG_CANCEL = b"\x85"
OVERRIDE_FIRST, OVERRIDE_LAST = 0x90, 0xA1  # feed 0x90-0x94, rapid 0x95-0x97, spindle 0x99-0x9E, coolant 0xA0-0xA1

STATES = ("Idle", "Run", "Hold", "Jog", "Alarm", "Door", "Check", "Home", "Sleep")

# GRBL 1.1's doc/csv/error_codes_en_US.csv (report.h STATUS_* numbers).
ERRORS = {
    1: "G-code words consist of a letter and a value. Letter was not found.",
    2: "Numeric value format is not valid or missing an expected value.",
    3: "Grbl '$' system command was not recognized or supported.",
    4: "Negative value received for an expected positive value.",
    5: "Homing cycle is not enabled via settings.",
    6: "Minimum step pulse time must be greater than 3usec",
    7: "EEPROM read failed. Reset and restored to default values.",
    8: "Grbl '$' command cannot be used unless Grbl is IDLE. Ensures smooth operation during a job.",
    9: "G-code locked out during alarm or jog state",
    10: "Soft limits cannot be enabled without homing also enabled.",
    11: "Max characters per line exceeded. Line was not processed and executed.",
    12: "(Compile Option) Grbl '$' setting value exceeds the maximum step rate supported.",
    13: "Safety door detected as opened and door state initiated.",
    14: "(Grbl-Mega Only) Build info or startup line exceeded EEPROM line length limit.",
    15: "Jog target exceeds machine travel. Command ignored.",
    16: "Jog command with no '=' or contains prohibited g-code.",
    17: "Laser mode requires PWM output.",
    20: "Unsupported or invalid g-code command found in block.",
    21: "More than one g-code command from same modal group found in block.",
    22: "Feed rate has not yet been set or is undefined.",
    23: "G-code command in block requires an integer value.",
    24: "Two G-code commands that both require the use of the XYZ axis words were detected in the block.",
    25: "A G-code word was repeated in the block.",
    26: "A G-code command implicitly or explicitly requires XYZ axis words in the block, but none were detected.",
    27: "N line number value is not within the valid range of 1 - 9,999,999.",
    28: "A G-code command was sent, but is missing some required P or L value words in the line.",
    29: "Grbl supports six work coordinate systems G54-G59. G59.1, G59.2, and G59.3 are not supported.",
    30: "The G53 G-code command requires either a G0 seek or G1 feed motion mode to be active.",
    31: "There are unused axis words in the block and G80 motion mode cancel is active.",
    32: "A G2 or G3 arc was commanded but there are no XYZ axis words in the selected plane to trace the arc.",
    33: "The motion command has an invalid target.",
    34: "A G2 or G3 arc, traced with the radius definition, had a mathematical error when computing the arc geometry.",
    35: "A G2 or G3 arc, traced with the offset definition, is missing the IJK offset word in the selected plane.",
    36: "There are unused, leftover G-code words that aren't used by any command in the block.",
    37: "The G43.1 dynamic tool length offset command cannot apply an offset to an axis other than its configured axis.",
    38: "Tool number greater than max supported value.",
}
# GRBL 1.1's doc/csv/alarm_codes_en_US.csv.
ALARMS = {
    1: "Hard limit triggered. Machine position is likely lost due to sudden and immediate halt.",
    2: "G-code motion target exceeds machine travel. Machine position safely retained.",
    3: "Reset while in motion. Grbl cannot guarantee position. Lost steps are likely.",
    4: "Probe fail. The probe is not in the expected initial state before starting probe cycle.",
    5: "Probe fail. Probe did not contact the workpiece within the programmed travel for G38.2 and G38.4.",
    6: "Homing fail. Reset during active homing cycle.",
    7: "Homing fail. Safety door was opened during active homing cycle.",
    8: "Homing fail. Cycle failed to clear limit switch when pulling off.",
    9: "Homing fail. Could not find limit switch within search distance.",
}


class GrblParseError(ValueError):
    """A line that claims a GRBL form (status report, error, alarm) but does not fit it."""


@dataclass(frozen=True)
class Ok:
    pass


@dataclass(frozen=True)
class Error:
    code: int

    @property
    def meaning(self) -> str:
        return ERRORS.get(self.code, "not a GRBL 1.1 error code")


@dataclass(frozen=True)
class Alarm:
    code: int

    @property
    def meaning(self) -> str:
        return ALARMS.get(self.code, "not a GRBL 1.1 alarm code")


@dataclass(frozen=True)
class Banner:
    version: str


@dataclass(frozen=True)
class Feedback:
    """A bracketed message: `[MSG:…]`, `[GC:…]`, `[VER:…]`, `[OPT:…]`, `[G54:…]`, `[PRB:…]`, …"""

    kind: str
    text: str


@dataclass(frozen=True)
class Setting:
    number: int
    value: str


@dataclass(frozen=True)
class StatusReport:
    state: str
    substate: int | None = None
    mpos: tuple[float, ...] | None = None
    wpos: tuple[float, ...] | None = None
    feed: float | None = None
    speed: float | None = None
    fields: dict[str, str] = field(default_factory=dict)  # everything else, raw (Bf, Ln, Ov, Pn, A, WCO)


@dataclass(frozen=True)
class Unknown:
    line: str


GrblMessage = Union[Ok, Error, Alarm, Banner, Feedback, Setting, StatusReport, Unknown]

_BANNER = re.compile(r"^Grbl (\S+) \['\$' for help\]$")
_SETTING = re.compile(r"^\$(\d+)=(.*)$")
_FEEDBACK = re.compile(r"^\[([A-Z0-9]+):(.*)\]$")


def _code(text: str, field_name: str) -> int:
    if not text.isdigit() or len(text) > 3:
        raise GrblParseError(f"{field_name}: {text!r} is not a code number (1 to 3 digits)")
    return int(text)


def _numbers(text: str, field_name: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise GrblParseError(f"status report field {field_name}: {text!r} is not comma-separated numbers") from None


def parse_status(line: str) -> StatusReport:
    """`<Hold:0|MPos:1.000,2.000,0.000|FS:500,0|Bf:15,128>` → StatusReport."""
    if not (line.startswith("<") and line.endswith(">")):
        raise GrblParseError(f"status report: {line!r} must be enclosed in < >")
    parts = line[1:-1].split("|")
    state, _, sub = parts[0].partition(":")
    if state not in STATES:
        raise GrblParseError(f"status report state: {state!r}; valid: {', '.join(STATES)}")
    substate = _code(sub, "status report substate") if sub else None
    values: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition(":")
        if not sep or not key.isalpha():
            raise GrblParseError(f"status report field {part!r}: expected NAME:value")
        values[key] = value
    mpos = _numbers(values.pop("MPos"), "MPos") if "MPos" in values else None
    wpos = _numbers(values.pop("WPos"), "WPos") if "WPos" in values else None
    feed = speed = None
    if "FS" in values:
        numbers = _numbers(values.pop("FS"), "FS")
        if len(numbers) != 2:
            raise GrblParseError(f"status report field FS: {len(numbers)} numbers, expected feed,speed")
        feed, speed = numbers
    elif "F" in values:
        (feed,) = _numbers(values.pop("F"), "F")[:1]
    return StatusReport(state, substate, mpos, wpos, feed, speed, values)


def parse_line(line: str) -> GrblMessage:
    """Classify one received line (without its line ending); GrblParseError only for a malformed known form."""
    if line == "ok":
        return Ok()
    if line.startswith("error:"):
        return Error(_code(line[6:], "error"))
    if line.startswith("ALARM:"):
        return Alarm(_code(line[6:], "alarm"))
    if line.startswith("<"):
        return parse_status(line)
    banner = _BANNER.match(line)
    if banner:
        return Banner(banner.group(1))
    feedback = _FEEDBACK.match(line)
    if feedback:
        return Feedback(feedback.group(1), feedback.group(2))
    setting = _SETTING.match(line)
    if setting:
        return Setting(int(setting.group(1)), setting.group(2))
    return Unknown(line)


class LineSplitter:
    """Bytes in, complete lines out; `\\r` is ignored (GRBL ends lines with \\r\\n), non-ASCII bytes are replaced."""

    def __init__(self) -> None:
        self._partial = bytearray()

    def feed(self, data: bytes) -> Iterator[str]:
        self._partial += data
        if b"\n" not in data:
            if len(self._partial) > MAX_LINE:
                del self._partial[:-MAX_LINE]  # no line ending for too long: keep only the tail
            return
        *lines, rest = self._partial.split(b"\n")
        self._partial = bytearray(rest)
        for raw in lines:
            line = raw.replace(b"\r", b"")[-MAX_LINE:].decode("ascii", errors="replace").strip()
            if line:
                yield line


def clean_gcode(line: str) -> str:
    """What GRBL's parser sees of a line (protocol.c's main loop): bytes up to and including space and the
    block-delete `/` dropped, `(…)` and `;…` comments dropped, lower case raised."""
    out = []
    in_paren = False
    for char in line:
        if in_paren:
            in_paren = char != ")"
        elif char == "(":
            in_paren = True
        elif char == ";":
            break
        elif char > " " and char != "/":
            out.append(char.upper() if "a" <= char <= "z" else char)
    return "".join(out)
