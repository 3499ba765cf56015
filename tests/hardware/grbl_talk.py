"""Talking raw GRBL to the emulator over its pty: send a line, collect every line up to its `ok`/`error:N`."""
from __future__ import annotations

import re
import time

import serial

REPLY = re.compile(r"^(ok|error:\d+)$")
BANNER = "Grbl 1.1h ['$' for help]"


class Talk:
    def __init__(self, port: serial.Serial) -> None:
        self.port = port
        self.buffer = b""
        # pyserial flushes input when it opens the port, so the power-up banner may be there, gone, or cut.
        # An empty line is answered `ok` (protocol.c): once it is back, the conversation is in step.
        port.write(b"\n")
        self.lines(lambda line: line.endswith("ok"))

    def lines(self, until, limit: float = 10.0) -> list[str]:
        """Read lines until `until(line)` is true for one; all lines read. `limit` bounds a hang, it is no assertion."""
        out: list[str] = []
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                line = raw.decode().strip()
                if line:
                    out.append(line)
                    if until(line):
                        return out
            self.buffer += self.port.read(max(1, self.port.in_waiting))
        raise AssertionError(f"no expected line within {limit}s; got {out}")

    def send(self, line: str) -> list[str]:
        """One line in; everything up to and including its reply out."""
        self.port.write(line.encode() + b"\n")
        return self.lines(REPLY.match)

    def reply(self, line: str) -> str:
        """Just the `ok`/`error:N` of one line (pushed messages dropped)."""
        return self.send(line)[-1]

    def realtime(self, byte: bytes, until) -> list[str]:
        self.port.write(byte)
        return self.lines(until)

    def status(self) -> str:
        return self.realtime(b"?", lambda line: line.startswith("<"))[-1]

    def wait_state(self, prefix: str, limit: float = 10.0) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            report = self.status()
            if report.startswith("<" + prefix):
                return report
            time.sleep(0.02)
        raise AssertionError(f"state {prefix} not reached: {report}")
