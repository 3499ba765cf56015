"""An RFC 2217 serial-over-TCP gateway built on pyserial's own server code (serial.rfc2217.PortManager), as in
pyserial's examples/rfc2217_server.py, in front of an emulator's pty. For tests only; listens on 127.0.0.1.

    python -m tests.hardware.rfc2217_server DEVICE [--port N]

Prints `127.0.0.1:PORT` on its first line. One client at a time. When the device goes away (the emulator
unplugs its pty) the client's connection is closed, as a gateway does when its serial port fails, and the
next client gets the device again once it is back.
"""
from __future__ import annotations

import argparse
import socket
import sys
import threading
import time

import serial
import serial.rfc2217


class Redirector:
    """pyserial's example redirector: serial → socket escaped, socket → serial filtered by the PortManager."""

    def __init__(self, port: serial.SerialBase, connection: socket.socket) -> None:
        self.serial = port
        self.socket = connection
        self._write_lock = threading.Lock()
        self.alive = True
        self.rfc2217 = serial.rfc2217.PortManager(self.serial, self)

    def write(self, data: bytes) -> None:
        """Called by the PortManager for its option negotiation, and by the reader."""
        with self._write_lock:
            self.socket.sendall(data)

    def reader(self) -> None:
        while self.alive:
            try:
                data = self.serial.read(self.serial.in_waiting or 1)
                if data:
                    self.write(b"".join(self.rfc2217.escape(data)))
            except (serial.SerialException, OSError, TypeError):
                break  # the device went away: end this client's session
        self.stop()

    def shortcircuit(self) -> None:
        """socket → serial until the client leaves or the device fails."""
        reader = threading.Thread(target=self.reader, daemon=True)
        reader.start()
        while self.alive:
            try:
                data = self.socket.recv(1024)
                if not data:
                    break
                self.serial.write(b"".join(self.rfc2217.filter(data)))
            except (OSError, serial.SerialException):
                break
        self.stop()
        reader.join(1.0)

    def stop(self) -> None:
        if self.alive:
            self.alive = False
            try:
                self.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class PtySerial(serial.Serial):
    """A pty has no modem lines: the DTR/RTS a client sets through RFC 2217 (SET_CONTROL) and the CTS/DSR/RI/CD
    the PortManager reports fail with ENOTTY there. A real gateway's UART has them; here they read as off."""

    def _modem_line(self, name: str) -> bool:
        try:
            return getattr(serial.Serial, name).fget(self)
        except OSError:
            return False

    cts = property(lambda self: self._modem_line("cts"))
    dsr = property(lambda self: self._modem_line("dsr"))
    ri = property(lambda self: self._modem_line("ri"))
    cd = property(lambda self: self._modem_line("cd"))

    def _update_dtr_state(self) -> None:
        try:
            super()._update_dtr_state()
        except OSError:
            pass

    def _update_rts_state(self) -> None:
        try:
            super()._update_rts_state()
        except OSError:
            pass


def open_device(device: str) -> serial.SerialBase:
    while True:
        try:
            return PtySerial(device, timeout=0.05)
        except (serial.SerialException, OSError):
            time.sleep(0.02)  # unplugged: wait for it to come back


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("device")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.port))
    server.listen(1)
    print(f"127.0.0.1:{server.getsockname()[1]}", flush=True)
    while True:
        connection, _ = server.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        port = open_device(args.device)
        try:
            Redirector(port, connection).shortcircuit()
        finally:
            port.close()
            connection.close()


if __name__ == "__main__":
    sys.exit(main())
