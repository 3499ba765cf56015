"""GRBL 1.1 conversations (lines in, replies out), each expectation taken from the firmware source (gnea/grbl):
protocol.c (line filter, replies, reset), gcode.c (the g-code set and its error order), system.c and
settings.c (`$` commands), report.c (formats). They pin the emulator that the driver tests run against.
"""
from __future__ import annotations

import contextlib
import time
from typing import Iterator

import pytest
import serial

from tests.hardware.conftest import run_emulator
from tests.hardware.grbl_talk import BANNER, Talk

FAST = "0.001"  # a thousand emulated seconds a second: motion-free conversations do not wait


@contextlib.contextmanager
def grbl(*args: str, time_scale: str = FAST) -> Iterator[Talk]:
    with run_emulator("hardware.grbl.emulator", "--time-scale", time_scale, *args) as path:
        with serial.Serial(path, 115200, timeout=0.05) as port:
            yield Talk(port)


# --- protocol.c: the line filter and one reply per line ----------------------------------------------------


def test_line_filter_and_limits():
    with grbl() as t:
        assert t.send("") == ["ok"]  # an empty line is answered, for syncing
        assert t.send("(only a comment)") == ["ok"]
        assert t.send("g1 x1 f100 ; lower case, spaces, comment") == ["ok"]
        assert t.reply("/G0 X2") == "ok"  # block delete is ignored, the line runs
        assert t.reply("G4P" + "0" * 76) == "ok"  # 79 characters: the most the 80-byte buffer holds
        assert t.reply("G4P" + "0" * 77) == "error:11"  # 80
        assert t.reply("G4 P" + " " * 100 + "0") == "ok"  # spaces never count
        t.port.write(b"G4P0\r\n")  # \r and \n each end a line: two replies
        assert t.lines(lambda line: line == "ok") == ["ok"] and t.lines(lambda line: line == "ok") == ["ok"]


def test_parser_word_errors_in_firmware_order():
    with grbl() as t:
        assert t.reply("10") == "error:1"  # value without a letter
        assert t.reply("G") == "error:2"  # letter without a value
        assert t.reply("X1.2.3") == "error:1"  # read_float stops at the second point, '.' is no letter
        assert t.reply("HELLO") == "error:2"
        assert t.reply("A1") == "error:20"  # axis not configured
        assert t.reply("G5") == "error:20"
        assert t.reply("M7") == "error:20"  # mist coolant is a compile option, off by default
        assert t.reply("G1.5") == "error:23"
        assert t.reply("M3.5") == "error:23"
        assert t.reply("G0 G1") == "error:24"  # two axis commands: checked before the modal group
        assert t.reply("G17 G18") == "error:21"
        assert t.reply("M8 M9") == "error:21"
        assert t.reply("M3 M5") == "error:21"
        assert t.reply("X1 X2") == "error:25"
        assert t.reply("F-1") == "error:4"
        assert t.reply("S-100") == "error:4"
        assert t.reply("G4 P-1") == "error:4"
        assert t.reply("T256") == "error:38"
        assert t.reply("N10000001") == "error:27"
        assert t.reply("G59.1") == "error:23"
        assert t.reply("G61.1") == "error:20"
        assert t.reply("G90.1") == "error:20"
        assert t.reply("G43") == "error:20"
        assert t.reply("G38.1 Z1") == "error:20"
        assert t.reply("G28.2") == "error:20"
        assert t.reply("G0 X1 I1") == "error:36"  # unused word
        assert t.reply("G1 X1") == "error:22"  # no feed rate yet
        assert t.reply("G1 X1 G10 L2 P1") == "error:24"


def test_motion_modes_and_arcs():
    with grbl() as t:
        assert t.reply("G1 X1 F100") == "ok"
        assert t.reply("G1") == "ok"  # motion mode without axis words: nothing to do
        assert t.reply("G0") == "ok"
        assert t.reply("G80") == "ok"
        assert t.reply("G80 X1") == "error:31"
        assert t.reply("X2") == "error:31"  # G80 active: axis words have no command
        assert t.reply("G2 X1") == "error:35"  # X is in the XY plane; offset mode without I or J
        assert t.reply("G2") == "error:26"
        assert t.reply("G17 G2 Z1") == "error:32"
        assert t.reply("G2 X3 Y0") == "error:35"  # offset mode without I/J
        assert t.reply("G2 X3 Y0 R0.5") == "error:34"  # radius too small for the chord
        assert t.reply("G0 X0 Y0") == "ok"
        assert t.reply("G2 X0 Y0 R5") == "error:33"  # radius mode with the target at the start
        assert t.reply("G2 X10 Y2 I5 J0") == "error:33"  # radii differ by 0.39 mm: over 0.005 mm and 0.1 %
        assert t.reply("G2 X10 Y0.004 I5 J0") == "ok"  # within 0.005 mm
        assert t.reply("G2 X10 Y0 I5 J0") == "ok"
        assert t.reply("G3 X0 Y0 R5") == "ok"
        assert t.reply("G19 G3 Y0 Z2 J0 K1") == "ok"
        assert t.reply("G17 G90 G0 X0 Y0 Z0") == "ok"
        assert t.reply("G4 P0") == "ok"
        assert t.status().startswith("<Idle|MPos:0.000,0.000,0.000")


def test_feed_modes_units_distance_and_coordinates():
    with grbl() as t:
        assert t.reply("G93 G1 X1") == "error:22"  # inverse time wants F on every motion block
        assert t.reply("G93 G1 X1 F60") == "ok"
        assert t.reply("G1 X2") == "error:22"
        assert t.reply("G94 G20 G0 X1") == "ok"  # inches
        assert t.reply("G4 P0") == "ok"
        assert "MPos:25.400,0.000,0.000" in t.status()
        assert t.reply("G21 G91 G0 X1 Y1") == "ok"
        assert t.reply("G90 G91.1") == "ok"
        assert t.reply("G4 P0") == "ok"
        assert "MPos:26.400,1.000,0.000" in t.status()
        assert t.send("$G")[0] == "[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]"
        assert t.reply("G10 L2 P2 X10") == "ok"  # G55 offset
        assert t.reply("G10 L2 P7 X1") == "error:29"
        assert t.reply("G10 L3 P1 X1") == "error:20"
        assert t.reply("G10 L2 P1 R1 X1") == "error:20"
        assert t.reply("G10 L2 P1") == "error:26"
        assert t.reply("G10 X1") == "error:28"
        assert t.reply("G55 G0 X0") == "ok"
        assert t.reply("G4 P0") == "ok"
        assert "MPos:10.000,1.000,0.000" in t.status()
        assert t.reply("G10 L20 P0 Y5") == "ok"  # current position is Y5 in the active system (G55)
        assert t.send("$#")[1] == "[G55:10.000,-4.000,0.000]"
        assert t.reply("G92 X0") == "ok"
        assert "[G92:0.000,0.000,0.000]" in t.send("$#")  # G92 = MPos - WCS - WPos = 10 - 10 - 0
        assert t.reply("G92 X2") == "ok"
        assert "[G92:-2.000,0.000,0.000]" in t.send("$#")
        assert t.reply("G92") == "error:26"
        assert t.reply("G92.1") == "ok"
        assert "[G92:0.000,0.000,0.000]" in t.send("$#")
        assert t.reply("G53 G0 X0 Y0") == "ok"
        assert t.reply("G53 G2 X1 R1") == "error:30"
        assert t.reply("G1 F10 G53 X0") == "ok"
        assert t.reply("G54 G61 G40 G49") == "ok"
        assert t.reply("G43.1 Z2") == "ok"
        assert "[TLO:2.000]" in t.send("$#")
        assert t.reply("G43.1 X1") == "error:37"
        assert t.reply("G43.1 Z1 G0 X1") == "error:24"
        assert t.reply("G49") == "ok"
        for n in range(54, 60):
            assert t.reply(f"G{n}") == "ok"
        assert t.send("$G")[0].startswith("[GC:G1 G59 ")


def test_g28_g30_and_their_stored_positions():
    with grbl() as t:
        assert t.reply("G0 X3 Y4") == "ok"
        assert t.reply("G28.1") == "ok"
        assert t.reply("G30.1") == "ok"
        assert t.send("$#")[6:8] == ["[G28:3.000,4.000,0.000]", "[G30:3.000,4.000,0.000]"]
        assert t.reply("G0 X0 Y0") == "ok"
        assert t.reply("G28") == "ok"
        assert t.reply("G4 P0") == "ok"
        assert "MPos:3.000,4.000,0.000" in t.status()
        assert t.reply("G0 X9") == "ok"
        assert t.reply("G30 Z1") == "ok"  # via Z1, then only Z to the stored position (gcode.c: other axes stay)
        assert t.reply("G4 P0") == "ok"
        assert "MPos:9.000,4.000,0.000" in t.status()


def test_spindle_coolant_tool_and_program_flow():
    with grbl() as t:
        assert t.reply("M3 S1000") == "ok"
        assert t.reply("M8") == "ok"
        assert t.reply("T5") == "ok"
        assert t.send("$G")[0] == "[GC:G0 G54 G17 G21 G90 G94 M3 M8 T5 F0 S1000]"
        t.status()
        assert "|A:SF" in t.status()  # second report after a reset carries Ov and accessories
        assert t.reply("M4") == "ok"
        assert t.reply("M5 M9") == "ok"
        assert t.reply("M1") == "ok"  # optional stop: ignored
        assert t.send("M2") == ["[MSG:Pgm End]", "ok"]
        assert t.send("M30") == ["[MSG:Pgm End]", "ok"]
        assert t.reply("G91 G2 X1 Y1 R1 F10") == "ok"
        assert t.send("M30")[0] == "[MSG:Pgm End]"
        assert t.send("$G")[0] == "[GC:G1 G54 G17 G21 G90 G94 M5 M9 T5 F10 S1000]"  # program end resets some modes
        assert t.reply("M0") == "ok"
        assert t.status().startswith("<Hold:0|")  # the pause is a feed hold
        t.port.write(b"G4P0\n")  # buffered, not executed, while held
        assert t.status().startswith("<Hold:0|")
        t.port.write(b"~")
        assert t.lines(lambda line: line == "ok") == ["ok"]


def test_dollar_commands():
    with grbl() as t:
        assert t.send("$") == ["[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]", "ok"]
        settings = t.send("$$")
        assert settings[0] == "$0=10" and "$11=0.010" in settings and "$30=1000" in settings and settings[-1] == "ok"
        assert "$110=500.000" in settings and "$120=10.000" in settings and "$132=200.000" in settings
        assert t.reply("$$X") == "error:3"
        assert t.reply("$Q") == "error:2"  # not a command letter: read as a setting number, which it is not
        assert t.reply("$120=50") == "ok"
        assert "$120=50.000" in t.send("$$")
        assert t.reply("$1=-1") == "error:4"
        assert t.reply("$0=2") == "error:6"
        assert t.reply("$20=1") == "error:10"  # soft limits need homing
        assert t.reply("$100=100000") == "error:12"  # 100000 steps/mm at 500 mm/min > 30 kHz
        assert t.reply("$140=1") == "error:3"
        assert t.reply("$103=1") == "error:3"
        assert t.reply("$256=1") == "error:3"
        assert t.reply("$9=1") == "error:3"
        assert t.reply("$1=") == "error:2"
        assert t.reply("$1") == "error:3"
        assert t.reply("$H") == "error:5"  # homing disabled by default ($22=0)
        assert t.send("$I") == ["[VER:1.1h.20190830:]", "[OPT:V,15,128]", "ok"]
        assert t.reply("$I=gantry-2") == "ok"
        assert t.send("$I")[0] == "[VER:1.1h.20190830:GANTRY-2]"  # the line filter raised it
        assert t.send("$N") == ["$N0=", "$N1=", "ok"]
        assert t.reply("$N0=G20 G4P0") == "ok"
        assert t.reply("$N1=G1") == "error:22"  # a startup block is run once to prove it valid
        assert t.send("$N") == ["$N0=G20G4P0", "$N1=", "ok"]
        assert t.reply("$N2=G0") == "ok"  # no third line to store into: accepted, not kept
        assert t.send("$RST=$") == ["[MSG:Restoring defaults]", "ok"]
        assert t.lines(lambda line: line.startswith(">")) == [BANNER, ">G20G4P0:ok"]  # startup block after reset
        assert "$120=10.000" in t.send("$$")
        assert t.reply("$RST=x") == "error:3"
        assert t.reply("$RST=*") == "ok"
        assert t.lines(lambda line: line == BANNER) == [BANNER]
        assert t.send("$N") == ["$N0=", "$N1=", "ok"]
        assert t.reply("$RST=#") == "ok"
        t.lines(lambda line: line == BANNER)


def test_check_mode_alarm_lock_and_sleep():
    with grbl(time_scale="1") as t:
        assert t.send("$C") == ["[MSG:Enabled]", "ok"]
        assert t.reply("G1 X500 F10") == "ok"  # parsed, not executed
        assert t.reply("G4 P1000") == "ok"  # no dwell in check mode
        assert t.status().startswith("<Check|MPos:0.000,0.000,0.000")
        assert t.reply("$#") == "error:8"  # `$#` needs Idle or Alarm
        assert t.send("$C") == ["[MSG:Disabled]", "ok"]
        assert t.lines(lambda line: line == BANNER) == [BANNER]  # leaving check mode resets
        assert t.send("$G")[0].startswith("[GC:G0 ")  # the parser state came back fresh
        assert t.reply("G1 X100 F600") == "ok"
        t.wait_state("Run")
        assert t.reply("$$") == "error:8"  # too long to print during a cycle
        assert t.reply("$C") == "error:8"
        assert t.reply("$#") == "error:8"
        assert t.reply("$J=X1F10") == "error:8"
        assert t.realtime(b"\x18", lambda line: line.startswith("[MSG:")) == ["ALARM:3", BANNER, "[MSG:'$H'|'$X' to unlock]"]
        assert t.status().startswith("<Alarm|")
        assert t.reply("G0 X0") == "error:9"
        assert t.reply("$C") == "error:8"
        assert t.reply("$G") == "ok" and t.reply("$$") == "ok" and t.reply("$#") == "ok"
        assert t.send("$X") == ["[MSG:Caution: Unlocked]", "ok"]
        assert t.send("$X") == ["ok"]  # not in alarm: no effect
        assert t.send("$SLP") == ["[MSG:Sleeping]", "ok"]
        assert t.status().startswith("<Sleep|")
        assert t.realtime(b"\x18", lambda line: line.startswith("[MSG:")) == [BANNER, "[MSG:'$H'|'$X' to unlock]"]


def test_homing_when_enabled():
    with grbl() as t:
        assert t.reply("$22=1") == "ok"
        assert t.reply("$20=1") == "ok"  # soft limits need homing: allowed now
        assert t.reply("$22=0") == "ok"
        assert "$20=0" in t.send("$$")  # disabling homing disabled soft limits
        assert t.reply("$22=1") == "ok"
        assert t.reply("$HQ") == "error:3"
        assert t.reply("$H") == "ok"
        assert "MPos:-1.000,-1.000,-1.000" in t.status()  # homed, pulled off by $27
        assert t.reply("$HX") == "ok"


def test_jogging():
    with grbl(time_scale="1") as t:
        assert t.reply("$J=G91 X1") == "error:22"  # a jog needs its feed rate
        assert t.reply("$JX1F10") == "error:3"
        assert t.reply("$J=G91 G1 X1 F10") == "error:16"  # only distance, units and G53
        assert t.reply("$J=M3 X1 F10") == "error:16"
        assert t.reply("$J=G91 X10 F600") == "ok"
        assert t.wait_state("Jog").startswith("<Jog|")
        assert t.reply("G0 X0") == "error:9"  # g-code is locked out while jogging
        assert t.reply("$J=G91 X1 F600") == "ok"  # more jogs queue behind it
        t.port.write(b"\x85")
        report = t.wait_state("Idle")
        assert not report.startswith("<Idle|MPos:11.000")  # cancelled: the jogs did not finish
        assert t.send("$G")[0].startswith("[GC:G0 ")  # jogs leave the parser's modes alone
        assert t.reply("$22=1") == "ok" and t.reply("$20=1") == "ok" and t.reply("$H") == "ok"
        assert t.reply("$J=G53 X10 F600") == "error:15"  # beyond soft limits: refused, no alarm
        assert t.reply("$J=G53 X-5 F6000") == "ok"


def test_feed_hold_decelerates_and_only_a_settled_hold_resumes():
    with grbl(time_scale="1") as t:
        assert t.reply("G1 X100 F600") == "ok"
        t.wait_state("Run")
        time.sleep(0.9)  # at full speed (500 mm/min, $110): the hold then needs 0.83 s to stop
        t.port.write(b"!")
        assert t.status().startswith("<Hold:1|")  # decelerating
        t.port.write(b"~")  # ignored: the hold has not completed
        held = t.wait_state("Hold:0")
        assert "|FS:0," in held
        t.port.write(b"~")
        t.wait_state("Run")
        t.port.write(b"!")
        t.wait_state("Hold:0")
        assert t.realtime(b"\x18", lambda line: line == BANNER) == [BANNER]  # a settled hold resets without an alarm


def test_reset_reports_the_interrupted_lines_result_after_the_alarm():
    """protocol.c: a reset breaks the dwell's/sync's wait; its `ok` is printed, after ALARM:3, before the banner."""
    with grbl(time_scale="1") as t:
        t.port.write(b"G1 X100 F600\nG4 P0\n")
        assert t.lines(lambda line: line == "ok") == ["ok"]  # the move is planned; G4 waits for it
        t.wait_state("Run")
        lines = t.realtime(b"\x18", lambda line: line.startswith("[MSG:"))
        assert lines == ["ALARM:3", "ok", BANNER, "[MSG:'$H'|'$X' to unlock]"]
        assert t.reply("$X") == "ok"
        t.port.write(b"G4 P100\n")
        time.sleep(0.2)  # let the main loop take the line and start the dwell
        assert t.realtime(b"\x18", lambda line: line == BANNER) == ["ok", BANNER]  # idle dwell: no alarm, still an ok


def test_status_report_fields_follow_dollar_ten():
    with grbl() as t:
        first = t.status()
        assert first.startswith("<Idle|MPos:0.000,0.000,0.000|FS:0,0|WCO:0.000,0.000,0.000>")
        assert t.status() == "<Idle|MPos:0.000,0.000,0.000|FS:0,0|Ov:100,100,100>"  # Ov the report after WCO
        assert t.status() == "<Idle|MPos:0.000,0.000,0.000|FS:0,0>"
        assert t.reply("$10=0") == "ok"  # work position, no buffer
        assert t.reply("G10 L2 P1 X5") == "ok"
        assert t.status().startswith("<Idle|WPos:-5.000,0.000,0.000|FS:0,0|WCO:5.000,0.000,0.000")  # WCO changed: reported
        assert t.reply("$10=2") == "ok"
        assert t.status().startswith("<Idle|WPos:-5.000,0.000,0.000|Bf:15,128|FS:0,0")
        assert t.reply("$10=3") == "ok"
        assert t.status().startswith("<Idle|MPos:0.000,0.000,0.000|Bf:15,128|FS:0,0")
        t.port.write(b"\x91\x91\x96\x9a")  # feed +10 +10, rapid 50 %, spindle +10
        assert "|Ov:120,50,110" in t.status()
        t.port.write(b"\x90\x95\x99")
        assert "|Ov:100,100,100" in t.status()


def test_probe_cycles():
    with grbl("--probe-z", "-2") as t:
        assert t.reply("G38.2 Z-5") == "error:22"
        assert t.reply("G38.2 F100") == "error:26"  # motion mode without axis words still needs them
        assert t.reply("G38.2 Z0 F100") == "error:33"  # target is the current position
        assert t.send("G38.2 Z-5 F100") == ["[PRB:0.000,0.000,-2.000:1]", "ok"]
        assert "|Pn:P" in t.status()
        assert t.send("G38.4 Z0 F100")[0] == "[PRB:0.000,0.000,-2.000:1]"  # away: until the pin clears
        assert t.reply("G0 Z0") == "ok"
        assert t.send("G38.3 Z-1 F100") == ["[PRB:0.000,0.000,-1.000:0]", "ok"]  # no contact, no error
        assert t.send("G38.2 Z-1.5 F100") == ["ALARM:5", "[PRB:0.000,0.000,-1.000:0]", "ok"]  # PRB kept on a fail
        assert t.reply("G0 Z0") == "error:9"
        assert t.reply("$X") == "ok"
        assert t.send("G38.5 Z1 F100") == ["ALARM:4", "ok"]  # away from a pin already clear: initial-state alarm


@pytest.mark.parametrize("line", ["G0 X1", "G1 X1 F10", "G4 P0.01", "G17", "G18", "G19", "G20", "G21", "G40",
                                  "G43.1 Z1", "G49", "G54", "G55", "G56", "G57", "G58", "G59", "G61", "G80",
                                  "G90", "G91", "G91.1", "G93", "G94", "G28.1", "G30.1", "G92 X0", "G92.1",
                                  "M3 S10", "M4", "M5", "M8", "M9", "M1", "N1 G0 X0", "T1"])
def test_every_supported_word_alone_is_accepted(line):
    """The g-code set gcode.c accepts (with a word where the command needs one)."""
    with grbl() as t:
        assert t.reply(line) == "ok"
