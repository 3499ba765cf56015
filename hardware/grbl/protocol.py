"""GRBL 1.1 serial vocabulary, pure: split bytes into lines, classify each line, parse `<...>` status reports.

Shared by the GRBL driver and the GRBL emulator so that both read the same grammar; written
from the reference (docs: shared/reference/controllers.md, GRBL's doc/markdown/interface.md).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator, Union

RX_BUFFER_SIZE = 128  # GRBL's serial receive buffer; character counting keeps the sum below this
LINE_LIMIT = 80  # characters GRBL's line buffer holds after spaces and comments are stripped
MAX_LINE = 256  # longest line the splitter keeps; longer runs are noise and are cut

# Realtime one-byte commands: they bypass the line buffer and are acted on at once.
STATUS_QUERY = b"?"
FEED_HOLD = b"!"
CYCLE_START = b"~"
SOFT_RESET = b"\x18"
JOG_CANCEL = b"\x85"
OVERRIDE_FIRST, OVERRIDE_LAST = 0x90, 0x9D

STATES = ("Idle", "Run", "Hold", "Jog", "Alarm", "Door", "Check", "Home", "Sleep")

# The codes this project's drivers explain in their messages; GRBL's doc/csv/error_codes_en_US.csv has all.
ERRORS = {
    1: "G-code words consist of a letter and a value. Letter was not found.",
    2: "Numeric value format is not valid or missing an expected value.",
    3: "Grbl '$' system command was not recognized or supported.",
    9: "G-code locked out during alarm or jog state.",
    11: "Max characters per line exceeded. Line was not processed and executed.",
    20: "Unsupported or invalid g-code command found in block.",
    22: "Feed rate has not yet been set or is undefined.",
}
ALARMS = {
    1: "Hard limit triggered.",
    2: "Soft limit alarm.",
    3: "Reset while in motion. Position lost; re-homing is highly recommended.",
    9: "Homing fail.",
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
        return ERRORS.get(self.code, "see GRBL's error_codes_en_US.csv")


@dataclass(frozen=True)
class Alarm:
    code: int

    @property
    def meaning(self) -> str:
        return ALARMS.get(self.code, "see GRBL's alarm_codes_en_US.csv")


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
    """What GRBL's parser sees of a line: spaces and comments (`(…)`, `;…`) removed, upper case."""
    out = []
    in_paren = False
    for char in line:
        if in_paren:
            in_paren = char != ")"
        elif char == "(":
            in_paren = True
        elif char == ";":
            break
        elif not char.isspace():
            out.append(char.upper())
    return "".join(out)
