"""The fleet at run time: each cell of the spec bound to a driver chosen by its URL, with
a PackML state, connected with backoff and reconnected when a controller drops."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hardware.driver import ControllerChanged, Driver, DriverError, DriverState
from hardware.registry import driver_for_url
from plant.spec import FactorySpec
from robots.packml import PackML


@dataclass
class CellHandle:
    cell: str
    url: str
    driver: Driver
    packml: PackML = field(default_factory=PackML)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class FleetError(ValueError):
    """A cell's URL names a controller that cannot be used (refused before any job is sent)."""


# In-process transports: every URL opens its own instance, so cells never share one.
_PRIVATE_SCHEMES = {"loop"}
# Network transports: the host and port are the controller; a path after them is not.
_NETWORK_SCHEMES = {"socket", "rfc2217"}


def endpoint(url: str) -> tuple[str, str, str] | None:
    """The device or host a URL reaches, whatever protocol runs over it: `grbl+serial:///dev/x`
    and `serial:///dev/x` are one port. None for in-process transports."""
    parts = urlsplit(url)
    transport = parts.scheme.rsplit("+", 1)[-1]
    if transport in _PRIVATE_SCHEMES:
        return None
    return transport, parts.netloc.lower(), "" if transport in _NETWORK_SCHEMES else parts.path.rstrip("/")


def check_distinct_endpoints(urls: dict[str, str], field_name: str) -> None:
    """FleetError when two cells would be sent to one port or host: their jobs would interleave
    on one controller (e.g. a URL template without `{id}`)."""
    seen: dict[tuple[str, str, str], str] = {}
    for cell, url in urls.items():
        key = endpoint(url)
        if key is None:
            continue
        if key in seen:
            raise FleetError(
                f"{field_name}: {url!r} sends cells {seen[key]} and {cell} to one controller "
                f"({key[0]} {key[1] + key[2]}); give each cell its own port or host, e.g. put {{id}} in the template"
            )
        seen[key] = cell


class Fleet:
    def __init__(self, urls: dict[str, str], backoff: tuple[float, float] = (0.05, 2.0), connect_attempts: int = 6) -> None:
        check_distinct_endpoints(urls, "url")
        self.handles = {cell: CellHandle(cell, url, driver_for_url(url)) for cell, url in urls.items()}
        self.backoff = backoff
        self.connect_attempts = connect_attempts

    @classmethod
    def from_spec(cls, spec: FactorySpec, cells: set[str] | None = None, url_template: str | None = None) -> "Fleet":
        """Drivers for the spec's cells (all, or only `cells`); `url_template` such as
        'mock://{id}?time_scale=0.001' overrides every cell's own URL."""
        urls = {
            c.id: (url_template.replace("{id}", c.id) if url_template else c.url)
            for c in spec.all_cells
            if cells is None or c.id in cells
        }
        check_distinct_endpoints(urls, "url" if url_template else "cells[].url")
        return cls(urls)

    def __getitem__(self, cell: str) -> CellHandle:
        return self.handles[cell]

    async def connect_all(self, skip: set[str] = frozenset()) -> None:
        """Open every cell's controller (but those in `skip`); FleetError naming the first cell
        that cannot be opened (a wrong port is a configuration error, found before any job leaves)."""
        handles = [h for cell, h in self.handles.items() if cell not in skip]
        outcomes = await asyncio.gather(*(self.ensure_connected(h) for h in handles), return_exceptions=True)
        for handle, outcome in zip(handles, outcomes):
            if isinstance(outcome, (DriverError, OSError)):
                await self.close_all()
                raise FleetError(f"{str(outcome).splitlines()[0]}; check the cell's port or --url") from None
            if isinstance(outcome, BaseException):
                raise outcome

    async def close_all(self) -> None:
        for handle in self.handles.values():
            if handle.driver.state != DriverState.CLOSED:
                await handle.driver.close()

    async def ensure_connected(self, handle: CellHandle) -> None:
        """Connect (or reconnect a faulted driver) with exponential backoff; PackML goes
        Stopped -> Resetting -> Idle on success."""
        if handle.driver.state in (DriverState.ACTIVE, DriverState.RECOVERED):
            return
        delay, cap = self.backoff
        last: Exception | None = None
        for _ in range(self.connect_attempts):
            try:
                if handle.driver.state == DriverState.FAULTED:
                    await handle.driver.close()
                    handle.driver.state = DriverState.FAULTED  # close() marks CLOSED; keep the fault for RECOVERED
                await handle.driver.connect()
                _bring_to_idle(handle.packml)
                return
            except ControllerChanged:
                raise  # another controller on the link: trying again reaches it again
            except (DriverError, OSError) as exc:
                last = exc
                await asyncio.sleep(delay)
                delay = min(cap, delay * 2)
        raise DriverError(f"{handle.cell}: cannot connect to {handle.url} after {self.connect_attempts} attempts ({last})")


def _bring_to_idle(packml: PackML) -> None:
    from robots.packml import State

    if packml.state in (State.ABORTED,):
        packml.command("clear")
        packml.settle()
    if packml.state in (State.STOPPED, State.COMPLETE):
        packml.command("reset")
        packml.settle()
