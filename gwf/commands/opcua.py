"""`gwf opcua`: the fleet as an OPC UA server, so a plant's SCADA/MES can watch the floor.

Each cell is a PackML unit in the OPC 30050 shape (hardware/opcua/packml.py) under `Objects/Fleet`:
its PackML state, unit mode, produced and defective counts and the job it is executing. With a
schedule, the fleet dispatches it while serving and the counters move; without one, it serves the
cells' states after connecting them.
"""
from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path
from typing import Optional

import typer

REFRESH_S = 0.2  # how often cell states are copied into the address space


class FleetOpcUa:
    """An asyncua server mirroring a robots.Fleet: states polled from the fleet, counts from dispatch events."""

    def __init__(self, fleet, host: str, port: int) -> None:
        from asyncua import Server

        self.fleet = fleet
        self.endpoint = f"opc.tcp://{host}:{port}/gwf/"
        self.server = Server()
        self.units: dict[str, object] = {}
        self.produced = {cell: 0 for cell in fleet.handles}
        self.defective = {cell: 0 for cell in fleet.handles}
        self.current = {cell: "" for cell in fleet.handles}
        self._published: dict[str, tuple] = {}

    async def start(self) -> None:
        from asyncua import ua

        from hardware.opcua.packml import PACKML_NS, add_unit

        await self.server.init()
        self.server.set_endpoint(self.endpoint)
        self.server.set_server_name("gwfactory fleet")
        self.server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await self.server.register_namespace(PACKML_NS)
        folder = await self.server.nodes.objects.add_folder(ns, "Fleet")
        for cell, handle in self.fleet.handles.items():
            self.units[cell] = await add_unit(folder, ns, cell, state=handle.packml.state.value)
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    def on_event(self, event: dict) -> None:
        """A dispatcher event: counts and the current job of its cell."""
        cell, state = event["cell"], event["state"]
        if cell not in self.current:
            return
        if state == "underway":
            self.current[cell] = event["job_id"]
        elif state in ("completed", "failed", "canceled", "blocked"):
            self.produced[cell] += state == "completed"
            self.defective[cell] += state == "failed"
            if self.current[cell] == event["job_id"]:
                self.current[cell] = ""

    async def refresh(self) -> None:
        for cell, handle in self.fleet.handles.items():
            now = (handle.packml.state.value, self.produced[cell], self.defective[cell], self.current[cell])
            if self._published.get(cell) != now:
                await self.units[cell].publish(state=now[0], processed=now[1], defective=now[2], current_job=now[3])  # type: ignore[attr-defined]
                self._published[cell] = now

    async def refresh_forever(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(REFRESH_S)


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def opcua(
    plan: Optional[Path] = typer.Argument(None, help="schedule JSON to dispatch while serving (optional)"),
    spec: Optional[Path] = typer.Option(None, help="factory spec (default: built-in 1 GW catalog)"),
    url: Optional[str] = typer.Option(None, help="override every cell's driver URL, e.g. 'mock://{id}?time_scale=0.001'"),
    host: str = typer.Option("127.0.0.1", help="interface to listen on"),
    port: int = typer.Option(4840, min=0, max=65535, help="TCP port (0: any free port)"),
    journal: Path = typer.Option(Path("out/journal.sqlite"), help="dispatch journal (with a schedule)"),
    timeout: float = typer.Option(30.0, help="seconds to wait for a controller's answer (with a schedule)"),
    seconds: Optional[float] = typer.Option(None, min=0, help="serve this long, then exit (default: until Ctrl-C)"),
) -> None:
    """Serve the fleet over OPC UA: each cell a PackML unit (state, mode, produced/defective, current job)."""
    from plant import load_spec
    from robots import Fleet

    factory = load_spec(spec)
    schedule = problem = None
    cells = None
    if plan is not None:
        from robots.plans import problem_for_schedule
        from scheduler.schedule import Schedule
        from scheduler.validate import validate

        schedule = Schedule.from_json(plan)
        problem = problem_for_schedule(factory, schedule)
        validate(problem, schedule, complete=False)
        cells = {a.cell for a in schedule.assignments}
    fleet = Fleet.from_spec(factory, cells=cells, url_template=url)
    asyncio.run(_serve(fleet, host, port or _free_port(host), schedule, problem, journal, timeout, seconds))


async def _serve(fleet, host: str, port: int, schedule, problem, journal: Path, timeout: float, seconds: float | None) -> None:
    server = FleetOpcUa(fleet, host, port)
    await server.start()
    typer.echo(server.endpoint)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    refresher = loop.create_task(server.refresh_forever())
    try:
        await fleet.connect_all()
        if schedule is not None:
            from robots import Dispatcher, Journal

            journal.parent.mkdir(parents=True, exist_ok=True)
            store = Journal(journal)
            try:
                report = await Dispatcher(fleet, store, timeout=timeout, on_event=server.on_event).run(problem, schedule)
            finally:
                store.close()
            typer.echo(json.dumps({"plan": report.plan, "counts": report.counts}))
        await server.refresh()
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass
    finally:
        refresher.cancel()
        await fleet.close_all()
        await server.stop()


def register(app: typer.Typer) -> None:
    app.command("opcua")(opcua)
