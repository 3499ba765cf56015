"""GRBL line grammar: known forms, status reports, and fuzzing of the line splitter and parser."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.grbl import protocol as g


def test_reference_lines_are_classified():
    assert g.parse_line("ok") == g.Ok()
    assert g.parse_line("error:22") == g.Error(22) and "Feed rate" in g.Error(22).meaning
    assert g.parse_line("ALARM:3") == g.Alarm(3)
    assert g.parse_line("Grbl 1.1h ['$' for help]") == g.Banner("1.1h")
    assert g.parse_line("[MSG:'$H'|'$X' to unlock]") == g.Feedback("MSG", "'$H'|'$X' to unlock")
    assert g.parse_line("[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]").kind == "GC"
    assert g.parse_line("$110=500.000") == g.Setting(110, "500.000")
    assert g.parse_line("something else") == g.Unknown("something else")


def test_status_report_fields():
    report = g.parse_line("<Hold:0|MPos:1.000,-2.500,0.000|Bf:15,128|FS:500,0|Pn:XZ>")
    assert report == g.StatusReport("Hold", 0, (1.0, -2.5, 0.0), None, 500.0, 0.0, {"Bf": "15,128", "Pn": "XZ"})
    assert g.parse_line("<Idle|WPos:0,0,0|F:300>").feed == 300.0


@pytest.mark.parametrize(
    "line, field",
    [("<Walk|MPos:0,0,0>", "state: 'Walk'"), ("<Idle|MPos:a,0,0>", "MPos"), ("<Idle|FS:1>", "FS"),
     ("<Idle|nonsense>", "NAME:value"), ("error:x1", "error"), ("ALARM:", "alarm"), ("<Hold:x>", "substate")],
)
def test_malformed_known_forms_name_the_field(line, field):
    with pytest.raises(g.GrblParseError, match=field):
        g.parse_line(line)


def test_clean_gcode_drops_spaces_and_comments():
    assert g.clean_gcode("g1 x10 (move over) y2 ; go") == "G1X10Y2"


@settings(max_examples=500)
@given(st.binary(max_size=600), st.integers(0, 600))
def test_random_bytes_only_ever_raise_grbl_parse_errors(data, cut):
    splitter = g.LineSplitter()
    for chunk in (data[:cut], data[cut:]):
        for line in splitter.feed(chunk):
            assert len(line) <= g.MAX_LINE
            try:
                g.parse_line(line)
            except g.GrblParseError:
                pass


@given(st.text(alphabet="<>|:,.0123456789-IdleRunHoldMPosFSBf", max_size=80))
def test_status_like_text_only_raises_grbl_parse_errors(text):
    try:
        g.parse_line(text)
    except g.GrblParseError:
        pass


@given(st.lists(st.sampled_from(["ok", "error:9", "<Idle|MPos:0.000,0.000,0.000|FS:0,0>", "ALARM:3", "[MSG:x]"]), max_size=20),
       st.integers(0, 400), st.integers(0, 7))
def test_bit_flipped_replies_only_raise_grbl_parse_errors(lines, pos, bit):
    """GRBL has no checksum, so a flipped bit can change a reply; the parser must still only classify or refuse."""
    wire = bytearray("".join(f"{line}\r\n" for line in lines).encode())
    if wire:
        wire[pos % len(wire)] ^= 1 << bit
    for line in g.LineSplitter().feed(bytes(wire)):
        try:
            g.parse_line(line)
        except g.GrblParseError:
            pass
