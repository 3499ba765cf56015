"""Codec for our cell-controller protocol: COBS framing, CRC-32, typed messages; pure, no I/O.

Wire format (see docs/protocol.md):  COBS(type | seq | body | crc32_le(type|seq|body)) 0x00

COBS removes every 0x00 from the frame so that 0x00 can only mean "end of frame": after
garbage or a lost byte the decoder is back in step at the next 0x00, without a length field
to get wrong. CRC-32 (zlib, in C) rather than CRC-16 because at 1 % corrupted frames a
16-bit check lets one bad frame in ~65,000 through, too often for a factory's job count.
"""
from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass
from typing import Iterator, Union

DELIMITER = b"\x00"
MAX_FRAME = 4096  # bytes between delimiters; longer runs are garbage, dropped to bound memory


class ProtocolError(ValueError):
    """A frame that is not a valid message of this protocol (bad CRC, bad COBS, bad body)."""


class FrameCorrupt(ProtocolError):
    """The frame's bytes are damaged (COBS, length or CRC): nothing in it, not even seq, can be trusted."""


class BadMessage(ProtocolError):
    """The frame arrived intact (CRC good) but its content is not a valid message: the sender has a bug."""

    def __init__(self, text: str, seq: int, unknown_type: bool = False) -> None:
        super().__init__(text)
        self.seq = seq
        self.unknown_type = unknown_type


class MsgType(enum.IntEnum):
    JOB = 0x01
    ACK = 0x02
    NAK = 0x03
    RESULT = 0x04
    STATUS_REQ = 0x05
    STATUS = 0x06
    ABORT = 0x07


class Disposition(enum.IntEnum):
    """What an ACK says about the job it acknowledges."""

    ACCEPTED = 0  # new job id, queued for execution
    IN_PROGRESS = 1  # id already queued or running: not queued again
    DONE = 2  # id already executed: a RESULT marked duplicate follows


class NakReason(enum.IntEnum):
    CRC = 1  # frame failed its CRC or COBS check; seq unknown, the sender re-sends what is unacknowledged
    MALFORMED = 2  # CRC good but the body does not parse for its type
    UNKNOWN_TYPE = 3
    QUEUE_FULL = 4  # controller's job queue is full; re-send later


class ControllerState(enum.IntEnum):
    IDLE = 0
    EXECUTE = 1
    HELD = 2
    ABORTED = 3


@dataclass(frozen=True)
class Job:
    seq: int
    job_id: str
    operation: str
    duration_ms: int
    params: bytes = b""  # opaque to the codec; the driver puts JSON here
    # Random per execute() call, the same in its re-sends: lets the controller tell our own re-send of a
    # job (not a duplicate) from a second request for an id it already ran (a duplicate).
    submission: int = 0


@dataclass(frozen=True)
class Ack:
    seq: int
    acked_seq: int
    disposition: Disposition


@dataclass(frozen=True)
class Nak:
    seq: int
    nak_seq: int  # meaningless when reason is CRC
    reason: NakReason


@dataclass(frozen=True)
class Result:
    seq: int
    job_id: str
    ok: bool
    duplicate: bool
    started_at: float
    finished_at: float
    detail: str = ""


@dataclass(frozen=True)
class StatusReq:
    seq: int


@dataclass(frozen=True)
class Status:
    seq: int
    state: ControllerState
    queued: int
    executed: int
    current_job: str = ""


@dataclass(frozen=True)
class Abort:
    seq: int
    job_id: str = ""  # empty: drop every queued job


Message = Union[Job, Ack, Nak, Result, StatusReq, Status, Abort]

_RESULT_TIMES = struct.Struct("<dd")
_JOB_HEAD = struct.Struct("<II")
_STATUS_HEAD = struct.Struct("<BHI")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")


# --- COBS -------------------------------------------------------------------------------

def cobs_encode(data: bytes) -> bytes:
    out = bytearray()
    # bytes.split runs in C; a 0x00 in the data ends a block, and blocks longer than 254 are cut.
    for block in data.split(b"\x00"):
        while len(block) >= 0xFF - 1:
            out.append(0xFF)
            out += block[:0xFE]
            block = block[0xFE:]
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise FrameCorrupt("cobs: zero byte inside a frame")
        end = i + code
        if end > n:
            raise FrameCorrupt(f"cobs: block of {code - 1} bytes runs past the frame end ({n - i - 1} left)")
        out += data[i + 1 : end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


# --- messages ---------------------------------------------------------------------------

def _text(value: str, field: str, limit: int = 255) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > limit:
        raise ProtocolError(f"{field}: {len(raw)} bytes, at most {limit} allowed")
    return raw


def _body(msg: Message) -> tuple[MsgType, bytes]:
    if isinstance(msg, Job):
        job_id, op = _text(msg.job_id, "job_id"), _text(msg.operation, "operation")
        for name in ("duration_ms", "submission"):
            if not 0 <= getattr(msg, name) <= 0xFFFFFFFF:
                raise ProtocolError(f"{name}: {getattr(msg, name)} outside 0..{0xFFFFFFFF}")
        head = _JOB_HEAD.pack(msg.duration_ms, msg.submission)
        body = head + bytes([len(job_id)]) + job_id + bytes([len(op)]) + op
        return MsgType.JOB, body + _U16.pack(len(msg.params)) + msg.params
    if isinstance(msg, Ack):
        return MsgType.ACK, bytes([msg.acked_seq, msg.disposition])
    if isinstance(msg, Nak):
        return MsgType.NAK, bytes([msg.nak_seq, msg.reason])
    if isinstance(msg, Result):
        job_id, detail = _text(msg.job_id, "job_id"), _text(msg.detail, "detail", MAX_FRAME)
        flags = (1 if msg.ok else 0) | (2 if msg.duplicate else 0)
        head = bytes([flags, len(job_id)]) + job_id + _RESULT_TIMES.pack(msg.started_at, msg.finished_at)
        return MsgType.RESULT, head + _U16.pack(len(detail)) + detail
    if isinstance(msg, StatusReq):
        return MsgType.STATUS_REQ, b""
    if isinstance(msg, Status):
        current = _text(msg.current_job, "current_job")
        head = _STATUS_HEAD.pack(msg.state, min(msg.queued, 0xFFFF), msg.executed & 0xFFFFFFFF)
        return MsgType.STATUS, head + bytes([len(current)]) + current
    if isinstance(msg, Abort):
        job_id = _text(msg.job_id, "job_id")
        return MsgType.ABORT, bytes([len(job_id)]) + job_id
    raise TypeError(f"not a protocol message: {msg!r}")


def encode(msg: Message) -> bytes:
    """The bytes to put on the wire for `msg`, delimiter included."""
    kind, body = _body(msg)
    payload = bytes([kind, msg.seq & 0xFF]) + body
    frame = cobs_encode(payload + _U32.pack(zlib.crc32(payload)))
    if len(frame) > MAX_FRAME:
        raise ProtocolError(f"{kind.name}: {len(frame)} bytes encoded, at most {MAX_FRAME}; shorten params or detail")
    return frame + DELIMITER


class _Reader:
    """Cursor over a message body; every read checks the bound so a short body is a ProtocolError."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, field: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ProtocolError(f"{field}: needs {n} bytes, {len(self.data) - self.pos} left in frame")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def text(self, field: str, length: int) -> str:
        try:
            return self.take(length, field).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"{field}: not UTF-8 ({exc.reason})") from None

    def end(self, kind: MsgType) -> None:
        if self.pos != len(self.data):
            raise ProtocolError(f"{kind.name}: {len(self.data) - self.pos} unexpected trailing bytes")


def _enum(cls: type[enum.IntEnum], value: int, field: str) -> enum.IntEnum:
    try:
        return cls(value)
    except ValueError:
        raise ProtocolError(f"{field}: {value} is not one of {[m.value for m in cls]}") from None


def decode(frame: bytes) -> Message:
    """One message from the bytes between two delimiters (delimiter excluded)."""
    if len(frame) > MAX_FRAME:
        raise FrameCorrupt(f"frame: {len(frame)} bytes, at most {MAX_FRAME} allowed")
    raw = cobs_decode(frame)
    if len(raw) < 6:
        raise FrameCorrupt(f"frame: {len(raw)} bytes after COBS, at least 6 (type, seq, crc32) needed")
    payload, crc = raw[:-4], _U32.unpack(raw[-4:])[0]
    if zlib.crc32(payload) != crc:
        raise FrameCorrupt("frame: CRC-32 mismatch")
    seq = payload[1]
    try:
        return _message(payload[0], seq, _Reader(payload[2:]))
    except ProtocolError as exc:
        raise BadMessage(str(exc), seq, unknown_type=payload[0] not in _TYPES) from None


_TYPES = {t.value for t in MsgType}


def _message(type_byte: int, seq: int, r: _Reader) -> Message:
    kind = _enum(MsgType, type_byte, "type")
    msg: Message
    if kind is MsgType.JOB:
        duration, submission = _JOB_HEAD.unpack(r.take(_JOB_HEAD.size, "duration_ms, submission"))
        job_id = r.text("job_id", r.u8("job_id length"))
        op = r.text("operation", r.u8("operation length"))
        params = r.take(_U16.unpack(r.take(2, "params length"))[0], "params")
        msg = Job(seq, job_id, op, duration, params, submission)
    elif kind is MsgType.ACK:
        msg = Ack(seq, r.u8("acked_seq"), _enum(Disposition, r.u8("disposition"), "disposition"))  # type: ignore[arg-type]
    elif kind is MsgType.NAK:
        msg = Nak(seq, r.u8("nak_seq"), _enum(NakReason, r.u8("reason"), "reason"))  # type: ignore[arg-type]
    elif kind is MsgType.RESULT:
        flags = r.u8("flags")
        if flags & ~3:
            raise ProtocolError(f"flags: {flags:#04x} has bits other than ok (1) and duplicate (2)")
        job_id = r.text("job_id", r.u8("job_id length"))
        started, finished = _RESULT_TIMES.unpack(r.take(_RESULT_TIMES.size, "times"))
        detail = r.text("detail", _U16.unpack(r.take(2, "detail length"))[0])
        msg = Result(seq, job_id, bool(flags & 1), bool(flags & 2), started, finished, detail)
    elif kind is MsgType.STATUS_REQ:
        msg = StatusReq(seq)
    elif kind is MsgType.STATUS:
        state, queued, executed = _STATUS_HEAD.unpack(r.take(_STATUS_HEAD.size, "status"))
        state_enum = _enum(ControllerState, state, "state")
        msg = Status(seq, state_enum, queued, executed, r.text("current_job", r.u8("current_job length")))  # type: ignore[arg-type]
    else:
        msg = Abort(seq, r.text("job_id", r.u8("job_id length")))
    r.end(kind)
    return msg


class FrameDecoder:
    """Turns a byte stream into messages; a bad frame is reported, then decoding goes on at the next delimiter."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> Iterator[Message | ProtocolError]:
        """Yields each message completed by `data`, or the ProtocolError of each bad frame (not raised:
        a bad frame is an event on a noisy line, and the caller decides whether to NAK it)."""
        self._buffer += data
        if DELIMITER not in data:
            if len(self._buffer) > MAX_FRAME:
                self._buffer.clear()  # no delimiter for too long: garbage, resynchronise at the next 0x00
                self._overflow = True
            return
        *frames, rest = self._buffer.split(DELIMITER)
        self._buffer = bytearray(rest)
        for frame in frames:
            if self._overflow:
                self._overflow = False
                yield FrameCorrupt(f"frame: more than {MAX_FRAME} bytes without a delimiter")
                continue
            if not frame:
                continue  # back-to-back delimiters: a resync marker, not a frame
            try:
                yield decode(bytes(frame))
            except ProtocolError as exc:
                yield exc
