"""The frame codec: round trips, the documented example frames, and fuzzing for resync and damage detection."""
from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.cellproto import frames as f

text = st.text(max_size=40).filter(lambda s: len(s.encode()) <= 255)
seq = st.integers(0, 255)
times = st.floats(allow_nan=False, allow_infinity=False)
messages = st.one_of(
    st.builds(f.Job, seq, text, text, st.integers(0, 2**32 - 1), st.binary(max_size=300), st.integers(0, 2**32 - 1)),
    st.builds(f.Ack, seq, seq, st.sampled_from(f.Disposition)),
    st.builds(f.Nak, seq, seq, st.sampled_from(f.NakReason)),
    st.builds(f.Result, seq, text, st.booleans(), st.booleans(), times, times, text),
    st.builds(f.StatusReq, seq),
    st.builds(f.Status, seq, st.sampled_from(f.ControllerState), st.integers(0, 65535), st.integers(0, 2**32 - 1), text),
    st.builds(f.Abort, seq, text),
)


@given(messages)
def test_every_message_survives_the_wire(msg):
    wire = f.encode(msg)
    assert wire.endswith(f.DELIMITER) and f.DELIMITER not in wire[:-1]
    assert list(f.FrameDecoder().feed(wire)) == [msg]


@given(st.binary(max_size=1200))
def test_cobs_round_trips_any_bytes(data):
    encoded = f.cobs_encode(data)
    assert b"\x00" not in encoded
    assert f.cobs_decode(encoded) == data


def test_documented_example_frames():
    # The same bytes as in docs/protocol.md: a change of wire format must change the document too.
    job = f.Job(1, "J1", "screw", 1500, b"", submission=0x1A2B3C4D)
    assert f.encode(job).hex(" ") == "05 01 01 dc 05 01 0e 4d 3c 2b 1a 02 4a 31 05 73 63 72 65 77 01 05 d6 a7 75 53 00"
    assert f.encode(f.Ack(1, 1, f.Disposition.ACCEPTED)).hex(" ") == "04 02 01 01 05 e1 4c 94 93 00"


def test_status_and_result_flags_are_checked():
    good = bytearray(f.cobs_decode(f.encode(f.Result(1, "J", True, False, 0.0, 0.0))[:-1]))
    good[2] = 0x80  # a flag bit that does not exist
    payload = bytes(good[:-4])
    bad = f.cobs_encode(payload + struct.pack("<I", zlib.crc32(payload)))
    with pytest.raises(f.BadMessage, match="flags"):
        f.decode(bad)


def test_oversized_message_is_refused_with_the_field_named():
    with pytest.raises(f.ProtocolError, match="job_id"):
        f.encode(f.Job(1, "x" * 300, "op", 0))
    with pytest.raises(f.ProtocolError, match="shorten params"):
        f.encode(f.Job(1, "J", "op", 0, b"\x01" * 5000))


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_random_bytes_yield_only_protocol_errors(data):
    decoder = f.FrameDecoder()
    for item in decoder.feed(data):
        assert isinstance(item, (f.ProtocolError, *f.Message.__args__))


@settings(max_examples=300)
@given(st.lists(messages, min_size=1, max_size=4), st.binary(max_size=64), st.data())
def test_decoder_resynchronises_after_garbage(msgs, garbage, data):
    """Garbage before a frame costs at most that frame; everything after the next delimiter decodes."""
    wire = garbage + f.DELIMITER + b"".join(f.encode(m) for m in msgs)
    decoder = f.FrameDecoder()
    out = []
    cut = data.draw(st.integers(0, len(wire)))  # arbitrary chunking of the stream
    for chunk in (wire[:cut], wire[cut:]):
        out += [m for m in decoder.feed(chunk) if not isinstance(m, f.ProtocolError)]
    assert out[-len(msgs):] == msgs


@settings(max_examples=300)
@given(messages, st.data())
def test_a_damaged_frame_is_never_accepted(msg, data):
    wire = bytearray(f.encode(msg))
    mode = data.draw(st.sampled_from(["flip", "truncate", "flip2"]))
    if mode == "truncate":
        cut = data.draw(st.integers(1, len(wire) - 2))  # wire[-1] is the delimiter: keep at least one byte off
        damaged = bytes(wire[:cut]) + f.DELIMITER
    else:
        for _ in range(1 if mode == "flip" else 2):
            pos = data.draw(st.integers(0, len(wire) - 2))
            wire[pos] ^= 1 << data.draw(st.integers(0, 7))
        damaged = bytes(wire) + f.DELIMITER
    if damaged[:-1] == f.encode(msg):
        return  # two flips cancelled out
    decoded = [m for m in f.FrameDecoder().feed(damaged) if not isinstance(m, f.ProtocolError)]
    assert decoded == []


def test_overlong_garbage_without_delimiter_is_bounded():
    decoder = f.FrameDecoder()
    assert list(decoder.feed(b"\x01" * (f.MAX_FRAME + 10))) == []
    items = list(decoder.feed(b"\x01\x00" + f.encode(f.StatusReq(3))))
    assert isinstance(items[0], f.FrameCorrupt) and items[-1] == f.StatusReq(3)


def test_every_example_frame_in_the_protocol_document_decodes_and_re_encodes():
    import pathlib
    import re

    doc = pathlib.Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
    frames = [bytes.fromhex(hex_) for hex_ in re.findall(r"wire: ([0-9a-f ]+)", doc.read_text())]
    assert len(frames) >= 10
    for wire in frames:
        (msg,) = f.FrameDecoder().feed(wire)
        assert not isinstance(msg, f.ProtocolError), (wire.hex(" "), msg)
        assert f.encode(msg) == wire
