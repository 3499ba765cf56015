"""The GRBL emulator against the reference's serial behaviour, spoken to raw over its pty (no driver in between)."""
from __future__ import annotations

import time

import serial

from tests.hardware.conftest import run_emulator

BANNER = b"help]\r\n"


def exchange(port: serial.Serial, data: bytes, until: bytes = b"ok\r\n", limit: float = 5.0) -> list[str]:
    """Send `data`, read until `until` has arrived; the received lines."""
    port.write(data)
    received = b""
    deadline = time.monotonic() + limit  # a bound against hanging, not a timing assertion
    while not received.endswith(until) and time.monotonic() < deadline:
        received += port.read(max(1, port.in_waiting))
    return [line for line in received.decode().split("\r\n") if line]


def drain(port: serial.Serial) -> None:
    """Discard the power-up banner, if it is still unread when the port opens (it races the open)."""
    time.sleep(0.1)
    port.reset_input_buffer()


def test_replies_and_error_codes_follow_the_reference():
    with run_emulator("hardware.grbl.emulator", "--time-scale", "0.001") as path, serial.Serial(path, 115200, timeout=0.1) as port:
        drain(port)
        assert exchange(port, b"$I\n") == ["[VER:1.1h.20190830:]", "[OPT:V,15,128]", "ok"]
        assert exchange(port, b"$G\n") == ["[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]", "ok"]
        assert exchange(port, b"G1 X10\n", b"\r\n") == ["error:22"]  # feed move without feed rate
        assert exchange(port, b"10\n", b"\r\n") == ["error:1"]
        assert exchange(port, b"hello\n", b"\r\n") == ["error:2"]
        assert exchange(port, b"G38.2 Z-1 F10\n", b"\r\n") == ["error:20"]
        assert exchange(port, b"$Q\n", b"\r\n") == ["error:3"]
        assert exchange(port, b"G1" + b"X1" * 40 + b"\n", b"\r\n") == ["error:11"]  # 82 characters
        assert exchange(port, b"G1 X1 (comment is dropped) F6000 ; and this\n") == ["ok"]
        status = exchange(port, b"?", b">\r\n")
        assert status[0].startswith("<Idle|MPos:") or status[0].startswith("<Run|MPos:")


def test_check_mode_and_alarm_lock():
    with run_emulator("hardware.grbl.emulator", "--time-scale", "1") as path, serial.Serial(path, 115200, timeout=0.1) as port:
        drain(port)
        assert exchange(port, b"$C\n") == ["[MSG:Enabled]", "ok"]
        assert exchange(port, b"G1 X500 F10\n") == ["ok"]  # parsed, not executed
        assert exchange(port, b"?", b">\r\n")[0].startswith("<Check|MPos:0.000,0.000,0.000")
        assert exchange(port, b"$C\n", BANNER) == ["[MSG:Disabled]", "ok", "Grbl 1.1h ['$' for help]"]
        exchange(port, b"G1 X100 F600\n")  # 10 s of motion
        time.sleep(0.1)
        assert exchange(port, b"?", b">\r\n")[0].startswith("<Run|")
        lines = exchange(port, b"\x18", b"unlock]\r\n")
        assert lines == ["ALARM:3", "Grbl 1.1h ['$' for help]", "[MSG:'$H'|'$X' to unlock]"]
        assert exchange(port, b"G1 X1 F600\n", b"\r\n") == ["error:9"]
        assert exchange(port, b"$X\n") == ["[MSG:Caution: Unlocked]", "ok"]
        assert exchange(port, b"?", b">\r\n")[0].startswith("<Idle|")


def test_a_sender_that_ignores_the_buffer_loses_bytes():
    """Why character counting matters: 300 bytes at once overflow the 128-byte receive buffer."""
    lines = b"".join(b"G1 X%d F60000\n" % i for i in range(25))
    with run_emulator("hardware.grbl.emulator", "--time-scale", "0.001") as path, serial.Serial(path, 115200, timeout=0.1) as port:
        drain(port)
        port.write(lines)
        time.sleep(0.5)
        replies = exchange(port, b"", b"", limit=0.5)
    assert replies.count("ok") + sum(r.startswith("error") for r in replies) < 25
