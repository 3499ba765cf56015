"""`gwf opcua`: the fleet as an OPC UA server, read by a real asyncua client on 127.0.0.1."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from asyncua import Client, ua

from gwf.commands.opcua import FleetOpcUa
from hardware.opcua.packml import PACKML_NS
from plant import load_spec
from plant.demand import Order
from robots import Dispatcher, Fleet, Journal
from scheduler.problem import build_problem
from tests.hardware.conftest import free_port
from tests.helpers import serial_schedule



async def unit_values(client: Client, cell: str) -> dict:
    ns = await client.get_namespace_index(PACKML_NS)
    unit = await client.nodes.objects.get_child([f"{ns}:Fleet", f"{ns}:{cell}"])
    read = lambda *path: unit.get_child([f"{ns}:{p}" for p in path])  # noqa: E731
    state = await read("BaseStateMachine", "CurrentState")
    return {
        "state": (await state.read_value()).Text,
        "state_id": await (await state.get_child([f"{ns}:Id"])).read_value(),
        "mode": await (await read("Status", "UnitModeCurrent")).read_value(),
        "produced": await (await read("Admin", "ProdProcessedCount")).read_value(),
        "defective": await (await read("Admin", "ProdDefectiveCount")).read_value(),
        "job": await (await read("Status", "CurrentJob")).read_value(),
    }


def test_dispatch_moves_the_packml_units_a_client_watches(tiny_spec_path, tmp_path):
    spec = load_spec(tiny_spec_path)
    orders = [Order(f"rack#{k}", "rack", 0, 10**7) for k in range(2)]
    problem = build_problem(spec, orders, 10**7)
    schedule = serial_schedule(problem)
    per_cell = {c: sum(a.cell == c for a in schedule.assignments) for c in {a.cell for a in schedule.assignments}}

    class Seen:
        def __init__(self) -> None:
            self.states: set[str] = set()

        def datachange_notification(self, node, value, data) -> None:
            self.states.add(getattr(value, "Text", str(value)))

    async def scenario() -> None:
        longest = max(a.end - a.start for a in schedule.assignments)
        fleet = Fleet.from_spec(spec, url_template=f"mock://{{id}}?time_scale={0.5 / longest}")  # jobs of up to 0.5 s
        server = FleetOpcUa(fleet, "127.0.0.1", free_port())
        await server.start()
        refresher = asyncio.get_running_loop().create_task(server.refresh_forever())
        await fleet.connect_all()
        await server.refresh()
        busiest = max(per_cell, key=per_cell.get)
        client = Client(server.endpoint)
        await client.connect()
        try:
            before = await unit_values(client, busiest)
            assert before == {"state": "Idle", "state_id": 4, "mode": 1, "produced": 0, "defective": 0, "job": ""}
            ns = await client.get_namespace_index(PACKML_NS)
            state = await client.nodes.objects.get_child([f"{ns}:Fleet", f"{ns}:{busiest}", f"{ns}:BaseStateMachine", f"{ns}:CurrentState"])
            seen = Seen()
            subscription = await client.create_subscription(20, seen)
            await subscription.subscribe_data_change(state)
            journal = Journal(tmp_path / "j.sqlite")
            report = await Dispatcher(fleet, journal, timeout=10, on_event=server.on_event).run(problem, schedule)
            # Where each job ran: its planned cell, or a twin cell the floor controller moved it to.
            ran_on = {}
            for entry in journal.entries():
                ran_on[entry.cell] = ran_on.get(entry.cell, 0) + 1
            journal.close()
            await server.refresh()
            await asyncio.sleep(0.3)
            assert report.counts == {"completed": len(schedule.assignments)}
            for cell, count in ran_on.items():
                after = await unit_values(client, cell)
                assert after["produced"] == count and after["defective"] == 0 and after["job"] == ""
            assert "Execute" in seen.states  # the client watched the cell work, live
            unit = await client.nodes.objects.get_child([f"{ns}:Fleet", f"{ns}:{busiest}"])
            await unit.call_method(f"{ns}:SetUnitMode", ua.Variant(2, ua.VariantType.Int32))
            assert (await unit_values(client, busiest))["mode"] == 2
            with pytest.raises(ua.UaStatusCodeError):
                await unit.call_method(f"{ns}:SetUnitMode", ua.Variant(9, ua.VariantType.Int32))
        finally:
            await client.disconnect()
            refresher.cancel()
            await fleet.close_all()
            await server.stop()

    asyncio.run(scenario())


def test_gwf_opcua_serves_every_cell_of_the_spec(tiny_spec_path):
    spec = load_spec(tiny_spec_path)
    proc = subprocess.Popen([sys.executable, "-m", "gwf", "opcua", "--spec", str(tiny_spec_path), "--url", "mock://{id}",
                             "--port", "0", "--seconds", "20"], stdout=subprocess.PIPE, text=True)

    async def browse(endpoint: str) -> list[str]:
        async with Client(endpoint) as client:
            ns = await client.get_namespace_index(PACKML_NS)
            fleet = await client.nodes.objects.get_child([f"{ns}:Fleet"])
            names = [(await child.read_browse_name()).Name for child in await fleet.get_children()]
            for _ in range(50):  # connect_all runs after the server is up: wait for the first refresh
                if (await unit_values(client, names[0]))["state"] == "Idle":
                    break
                await asyncio.sleep(0.1)
            assert (await unit_values(client, names[0]))["state"] == "Idle"
            return names

    try:
        assert proc.stdout is not None
        endpoint = proc.stdout.readline().strip()
        assert endpoint.startswith("opc.tcp://127.0.0.1:")
        names = asyncio.run(browse(endpoint))
    finally:
        proc.terminate()
        proc.wait(10)
    assert sorted(names) == sorted(c.id for c in spec.all_cells)
