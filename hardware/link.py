"""A byte pipe to one device, opened from a driver URL through pyserial, read without blocking the event loop.

Two read paths, because they cost very different CPU: a local tty (`serial://`, a pty) has a
file descriptor, so the event loop itself watches it (`add_reader`, no thread, one wake-up per
burst of bytes); pyserial's URL handlers (`loop://`, `socket://`, `rfc2217://`) have no
usable descriptor, so a thread does the blocking reads and hands chunks to the loop.
"""
from __future__ import annotations

import asyncio
import errno
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

import serial
import serial.serialposix

# pyserial's own query options for URL handlers; they stay in the URL handed to serial_for_url.
_PYSERIAL_URL_OPTIONS = {"logging", "timeout", "poll_modem", "ign_set_control"}
_TRANSPORTS = ("serial", "loop", "socket", "rfc2217")


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def _choice(*valid: Any) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        for item in valid:
            if str(item).upper() == value.upper():
                return item
        raise ValueError(f"expected one of {', '.join(map(str, valid))}")

    return convert


_SERIAL_SETTINGS: dict[str, Callable[[str], Any]] = {
    "baudrate": int,
    "bytesize": _choice(5, 6, 7, 8),
    "parity": _choice("N", "E", "O", "M", "S"),
    "stopbits": _choice(1, 1.5, 2),
    "rtscts": _bool,
    "xonxoff": _bool,
    "dsrdtr": _bool,
}


@dataclass(frozen=True)
class Endpoint:
    """A driver URL taken apart: what pyserial opens, with which line settings, plus the driver's own options."""

    url: str  # the driver URL as given, for messages
    port_url: str  # what serial_for_url opens: a device path or a pyserial URL
    settings: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def baudrate(self) -> int:
        return int(self.settings.get("baudrate", 115200))


def parse_endpoint(url: str, driver_options: dict[str, Callable[[str], Any]] | None = None) -> Endpoint:
    """Split `[protocol+]transport://…?query` into port, serial settings and driver options.

    ValueError names the offending query field and what would be valid."""
    driver_options = driver_options or {}
    parts = urlsplit(url)
    transport = parts.scheme.rsplit("+", 1)[-1]
    if transport not in _TRANSPORTS:
        raise ValueError(f"driver url {url!r}: transport {transport!r} unknown; valid: {', '.join(_TRANSPORTS)}")
    settings: dict[str, Any] = {}
    options: dict[str, Any] = {}
    passthrough: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        convert = driver_options.get(key) or _SERIAL_SETTINGS.get(key)
        if convert is None:
            if key in _PYSERIAL_URL_OPTIONS and transport != "serial":
                passthrough.append((key, value))
                continue
            valid = sorted({*driver_options, *_SERIAL_SETTINGS} | (_PYSERIAL_URL_OPTIONS if transport != "serial" else set()))
            raise ValueError(f"driver url {url!r}: query field {key!r} unknown; valid: {', '.join(valid)}")
        try:
            converted = convert(value)
        except ValueError as exc:
            raise ValueError(f"driver url {url!r}: query field {key}={value!r} invalid: {exc}") from None
        (options if key in driver_options else settings)[key] = converted
    if transport == "serial":
        port_url = parts.path or parts.netloc
        if not port_url:
            raise ValueError(f"driver url {url!r}: no device path; write serial:///dev/ttyUSB0")
    else:
        port_url = f"{transport}://{parts.netloc}{parts.path}" + (f"?{urlencode(passthrough)}" if passthrough else "")
    return Endpoint(url, port_url, settings, options)


class LinkLost(ConnectionError):
    """The device went away (unplugged, EIO, closed socket)."""


class SerialLink:
    """One open port. Received bytes go to `on_data` on the event loop; a lost device calls `on_lost` once."""

    def __init__(self, endpoint: Endpoint, on_data: Callable[[bytes], None], on_lost: Callable[[Exception], None]) -> None:
        self.endpoint = endpoint
        self._on_data = on_data
        self._on_lost = on_lost
        self._port: serial.SerialBase | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def is_open(self) -> bool:
        return self._port is not None

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        settings = {"baudrate": self.endpoint.baudrate, **self.endpoint.settings, "timeout": 0.1}
        try:
            # Opening an rfc2217 or socket port negotiates over the network: keep it off the loop.
            port = await self._loop.run_in_executor(None, lambda: serial.serial_for_url(self.endpoint.port_url, **settings))
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkLost(f"{self.endpoint.url}: cannot open {self.endpoint.port_url}: {exc}") from exc
        self._port = port
        self._stop.clear()
        if isinstance(port, serial.serialposix.Serial) and port.fd is not None:
            self._fd = port.fd  # pyserial opened it O_NONBLOCK, which add_reader needs
            self._loop.add_reader(self._fd, self._read_ready)
        else:
            self._thread = threading.Thread(target=self._read_thread, name=f"link {self.endpoint.port_url}", daemon=True)
            self._thread.start()

    def write(self, data: bytes) -> None:
        if self._port is None:
            raise LinkLost(f"{self.endpoint.url}: not open")
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkLost(f"{self.endpoint.url}: write failed: {exc}") from exc
        self.bytes_out += len(data)

    async def close(self) -> None:
        port, self._port = self._port, None
        self._stop.set()
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._fd = None
        if self._thread is not None:
            thread, self._thread = self._thread, None
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 1.0)
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass  # closing a port whose device vanished: nothing left to release

    def _lost(self, exc: Exception) -> None:
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._fd = None
        if self._port is not None:
            self._on_lost(exc)

    def _read_ready(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            # EIO is what a pty slave reads once its master is gone, and what a vanished USB adapter gives.
            self._lost(LinkLost(f"{self.endpoint.url}: read failed: {errno.errorcode.get(exc.errno or 0, exc)}"))
            return
        if not data:
            self._lost(LinkLost(f"{self.endpoint.url}: device reports readiness to read but returned no data"))
            return
        self.bytes_in += len(data)
        self._on_data(data)

    def _read_thread(self) -> None:
        port, loop = self._port, self._loop
        assert port is not None and loop is not None
        while not self._stop.is_set():
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # TypeError/AttributeError: pyserial's socket handler after close() races the read.
                if not self._stop.is_set():
                    self._hand_over(loop, self._lost, LinkLost(f"{self.endpoint.url}: read failed: {exc}"))
                return
            if data:
                self.bytes_in += len(data)
                if not self._hand_over(loop, self._on_data, data):
                    return

    @staticmethod
    def _hand_over(loop: asyncio.AbstractEventLoop, callback: Callable[[Any], None], arg: Any) -> bool:
        try:
            loop.call_soon_threadsafe(callback, arg)
        except RuntimeError:
            return False  # the loop is closed: its owner is gone without closing us, stop reading
        return True
