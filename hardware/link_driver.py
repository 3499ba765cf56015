"""What every driver over a serial-like link shares: open by URL, notice a lost device, reconnect with backoff.

Lifecycle: connect() opens and handshakes (ACTIVE). A lost link or a job timeout moves the
driver to FAULTED and starts one recovery task: if the link still answers a heartbeat it is
kept, otherwise it is closed and reopened with exponential backoff until the handshake
succeeds (RECOVERED). While recovery runs, execute() still admits jobs and they wait,
within their own timeout, for the link to come back.
"""
from __future__ import annotations

import abc
import asyncio
from typing import Any, Callable

from hardware.backoff import Backoff
from hardware.driver import ControllerChanged, Driver, DriverError, DriverState
from hardware.link import LinkLost, SerialLink, parse_endpoint


def _positive(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def check(value: str) -> Any:
        number = convert(value)
        if number <= 0:
            raise ValueError("must be > 0")
        return number

    return check


class LinkDriver(Driver):
    """A Driver whose controller sits at the far end of a SerialLink. Subclasses speak the protocol."""

    # Query fields of the URL that belong to the driver rather than to the serial port.
    OPTIONS: dict[str, Callable[[str], Any]] = {
        "connect_timeout": _positive(float),  # seconds for one handshake attempt
        "reconnect_max": _positive(float),  # longest pause between two reconnect attempts
    }
    DEFAULTS: dict[str, Any] = {"connect_timeout": 2.0, "reconnect_max": 2.0}

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.endpoint = parse_endpoint(url, self.OPTIONS)
        unknown = set(options) - set(self.OPTIONS)
        if unknown:
            raise ValueError(f"driver {url!r}: options {sorted(unknown)} unknown; valid: {', '.join(sorted(self.OPTIONS))}")
        self.settings: dict[str, Any] = {**self.DEFAULTS, **self.endpoint.options, **options}
        self.reconnects = 0
        self._link: SerialLink | None = None
        self._link_up = asyncio.Event()
        self._recovery: asyncio.Task[None] | None = None
        self._relost = False
        self._closing = False

    # --- hooks for the protocol --------------------------------------------------------

    @abc.abstractmethod
    def _on_bytes(self, data: bytes) -> None:
        """Bytes received from the controller, on the event loop."""

    @abc.abstractmethod
    async def _handshake(self) -> None:
        """Check that a controller of the right kind answers on a freshly opened link; raise DriverError if not."""

    def _on_link_down(self) -> None:
        """The link was closed for a reconnect: forget per-link state (buffers, counters)."""

    def _on_link_up(self) -> None:
        """The link is back after a reconnect: re-send or re-read what the outage may have lost."""

    async def _identify(self) -> str | None:
        """What the controller on a freshly handshaken link says it is (compared across reconnects
        by Driver.check_identity); None when the protocol offers nothing to tell two apart."""
        return None

    def _on_controller_changed(self) -> None:
        """A reconnect reached another controller: end whatever waits for an answer from the old one."""

    # --- lifecycle ---------------------------------------------------------------------

    async def _connect(self) -> None:
        self._closing = False
        await self._open_and_handshake()
        self._link_up.set()

    async def _close(self) -> None:
        self._closing = True
        if self._recovery is not None:
            self._recovery.cancel()
            try:
                await self._recovery
            except (asyncio.CancelledError, DriverError):
                pass
            self._recovery = None
        self._link_up.clear()
        await self._drop_link()

    def _accepting(self) -> bool:
        recovering = self._recovery is not None and not self._recovery.done()
        return super()._accepting() or (self.state is DriverState.FAULTED and recovering)

    async def _wait_link(self, deadline: float) -> bool:
        """Wait until the link is up or the loop clock passes `deadline`; whether it is up.
        ControllerChanged as soon as a reconnect found another controller on the link."""
        return await self._until_link(self._link_up, deadline)

    def _write(self, data: bytes) -> bool:
        """Send bytes if a link is open; a failed write starts recovery. Whether the bytes went out."""
        if self._link is None:
            return False
        try:
            self._link.write(data)
        except LinkLost as exc:
            self._lost(exc)
            return False
        return True

    def _trouble(self, reason: str) -> None:
        """Something (a timeout) suggests the link is bad: check it, and reconnect if it does not answer."""
        self.state = DriverState.FAULTED
        self._start_recovery(reason)

    def _lost(self, exc: Exception) -> None:
        self._link_up.clear()
        self.state = DriverState.FAULTED
        self._relost = True  # seen by a recovery already running: the link it is opening went away again
        self._start_recovery(str(exc))

    def _start_recovery(self, reason: str) -> None:
        if self._closing or (self._recovery is not None and not self._recovery.done()):
            return
        self.last_fault = reason
        self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        if self._link_up.is_set() and await self._heartbeat():
            self.state = DriverState.RECOVERED  # the line answers: the timeout was the job's, not the link's
            return
        self._link_up.clear()
        backoff = Backoff(cap=self.settings["reconnect_max"])
        while not self._closing:
            await self._drop_link()
            self._relost = False
            try:
                await self._open_and_handshake()
            except ControllerChanged:
                # Not ours: stay FAULTED and send nothing more (a person re-checks the wiring).
                self._on_controller_changed()
                return
            except DriverError:
                await backoff.sleep()
                continue
            if not self._relost:
                break
        if self._closing:
            return
        self.reconnects += 1
        self.state = DriverState.RECOVERED
        self._link_up.set()
        self._on_link_up()

    async def _open_and_handshake(self) -> None:
        link = SerialLink(self.endpoint, self._on_bytes, self._lost)
        try:
            await link.open()
        except LinkLost as exc:
            raise DriverError(str(exc)) from exc
        self._link = link
        try:
            await self._handshake()
            self.check_identity(await self._identify())
        except BaseException:
            await self._drop_link()
            raise

    async def _drop_link(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close()
            self._on_link_down()

    def _link_stats(self) -> dict[str, Any]:
        link = self._link
        return {
            "link": "up" if self._link_up.is_set() else "down",
            "reconnects": self.reconnects,
            "bytes_in": link.bytes_in if link else 0,
            "bytes_out": link.bytes_out if link else 0,
        }
