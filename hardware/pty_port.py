"""The device end of an emulated serial line: a pty behind a stable path, with real line time at a baud rate.

A pty moves bytes at memory speed whatever the baud rate, so the emulators charge each byte
its line time (10 bits a byte for 8N1) on one clock shared by both directions: the
conservative half-duplex model, the same one the benchmark's ceiling (bytes both ways ÷
11,520 B/s) assumes. Bytes are delivered at their computed arrival time with `call_at` on
absolute times, so event-loop wake-up lateness does not add up over thousands of frames.

A disconnect closes the pty master: the driver's reads then fail with EIO, as with an
unplugged USB adapter. A new pty is opened after the down time and the stable path (a
symlink, like udev's /dev/serial/by-id names) is pointed at it, so a driver that reopens
the same URL finds the device again.
"""
from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import tty
from typing import Awaitable, Callable

BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit


class LineClock:
    """When each burst of bytes finishes on a line that carries one byte at a time."""

    def __init__(self, baud: int) -> None:
        if baud <= 0:
            raise ValueError(f"baud: {baud} must be a positive bit rate, e.g. 115200")
        self.byte_time = BITS_PER_BYTE / baud
        self.free_at = 0.0

    def reserve(self, nbytes: int, now: float) -> float:
        self.free_at = max(now, self.free_at) + nbytes * self.byte_time
        return self.free_at


class PtyPort:
    """A pty whose slave is reachable at `path`; `send` writes after line time, `on_data` gets what arrives."""

    def __init__(
        self, path: str, baud: int, on_data: Callable[[bytes], None], latency: float = 0.0, clock: LineClock | None = None
    ) -> None:
        self.path = path
        # A shared clock with receive charging off lets two ports form one line (see PtyBridge).
        self.clock = clock or LineClock(baud)
        self.charge_rx = clock is None
        self.latency = latency  # fixed extra delay per write, like a USB adapter's latency timer
        self._on_data = on_data
        self._master: int | None = None
        self._slave: int | None = None
        self._generation = 0  # writes scheduled before a disconnect must not reach the next pty
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def connected(self) -> bool:
        return self._master is not None

    def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        # Raw at once: until the driver opens (and pyserial sets raw) the line discipline would echo
        # and translate bytes. Keeping our own slave fd open means the master never sees EIO when
        # the driver closes its side.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._generation += 1
        tmp = f"{self.path}.tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.path)  # atomic: a driver never sees the path missing between two ptys
        self._loop.add_reader(master, self._read_ready)

    def close(self) -> None:
        if self._master is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def remove_path(self) -> None:
        if os.path.lexists(self.path):
            os.unlink(self.path)

    async def disconnect(self, down_s: float) -> None:
        # The path goes with the pty, as a udev by-id link does when a USB adapter is pulled:
        # left in place it would name a freed pty number that the next openpty() anywhere on the
        # machine may take, and a driver reconnecting in between would talk to that stranger.
        self.remove_path()
        self.close()
        await asyncio.sleep(down_s)
        self.open()

    def send(self, data: bytes) -> None:
        if self._master is None or self._loop is None:
            return  # nobody on the line: the bytes are lost, as on a real unplugged cable
        arrival = self.clock.reserve(len(data), self._loop.time()) + self.latency
        self._loop.call_at(arrival, self._write, data, self._generation)

    def _write(self, data: bytes, generation: int) -> None:
        if generation != self._generation or self._master is None:
            return
        try:
            os.write(self._master, data)
        except (BlockingIOError, OSError):
            pass  # the slave side is not being read and its buffer is full: the line drops the bytes

    def _read_ready(self) -> None:
        assert self._master is not None and self._loop is not None
        try:
            data = os.read(self._master, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO while no slave is open: nothing to read
        if data and not self.charge_rx:
            self._on_data(data)
        elif data:
            ready = self.clock.reserve(len(data), self._loop.time())
            self._loop.call_at(ready, self._deliver, data, self._generation)

    def _deliver(self, data: bytes, generation: int) -> None:
        if generation == self._generation and self._master is not None:
            self._on_data(data)  # bytes still on the wire when the cable was pulled are lost


class PtyBridge:
    """Two ptys joined like a cable (what `socat pty pty` does), for a device that must open its own port
    by path, such as pymodbus's serial server. One clock charges every byte once: a half-duplex line."""

    def __init__(self, device_path: str, host_path: str, baud: int) -> None:
        clock = LineClock(baud)
        self.device = PtyPort(device_path, baud, lambda data: self.host.send(data), clock=clock)
        self.host = PtyPort(host_path, baud, lambda data: self.device.send(data), clock=clock)

    def open(self) -> None:
        self.device.open()
        self.host.open()

    def close(self) -> None:
        for port in (self.device, self.host):
            port.close()
            port.remove_path()


def device_path(requested: str | None, name: str) -> str:
    """The path an emulator's device appears at: the one asked for, or a fresh one in a temp folder."""
    return requested or os.path.join(tempfile.mkdtemp(prefix=f"gwf-{name}-"), name)


async def announce_and_wait(path: str, cleanup: Callable[[], Awaitable[None]]) -> None:
    """Print the device path as the first line (the contract with tests and the dispatcher's
    tooling), then serve until SIGTERM or SIGINT, then run `cleanup`."""
    print(path, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await cleanup()
