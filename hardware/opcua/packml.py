"""The PackML unit shape of OPC 30050 (PackML companion specification) in an asyncua address space.

Shared by the fleet's OPC UA server (`gwf opcua`, one unit per cell) and by the OPC UA cell
emulator (one unit). Browse names follow the companion specification, in its namespace
`http://opcfoundation.org/UA/PackML/`:

    <Unit>/Status/UnitModeCurrent        Int32   (1 Production, 2 Maintenance, 3 Manual)
    <Unit>/Status/UnitSupportedModes     Int32[]
    <Unit>/Status/MachSpeed, CurMachSpeed             Float
    <Unit>/Status/EquipmentBlocked, EquipmentStarved  Boolean
    <Unit>/Status/CurrentJob             String  (ours: the job id being executed, "" if none)
    <Unit>/Admin/ProdProcessedCount      Int64   (the specification's PackMLCountDataType arrays, as one total)
    <Unit>/Admin/ProdDefectiveCount      Int64
    <Unit>/BaseStateMachine/CurrentState LocalizedText, with property Id (ISA-TR88 state number)

Objects are plain BaseObjectType instances with those browse names: the shape a SCADA browses, without
loading the companion specification's nodeset (kept out so the server starts in milliseconds).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncua import Node, ua

PACKML_NS = "http://opcfoundation.org/UA/PackML/"
PRODUCTION = 1
SUPPORTED_MODES = [1, 2, 3]

# ISA-TR88.00.02 state numbers, as the companion specification's state machine uses them.
STATE_IDS = {
    "Clearing": 1, "Stopped": 2, "Starting": 3, "Idle": 4, "Suspended": 5, "Execute": 6, "Stopping": 7,
    "Aborting": 8, "Aborted": 9, "Holding": 10, "Held": 11, "Unholding": 12, "Suspending": 13,
    "Unsuspending": 14, "Resetting": 15, "Completing": 16, "Complete": 17,
}


@dataclass
class UnitNodes:
    unit: Node
    mode: Node
    supported_modes: Node
    mach_speed: Node
    cur_mach_speed: Node
    blocked: Node
    starved: Node
    current_job: Node
    processed: Node
    defective: Node
    state: Node
    state_id: Node

    async def publish(self, state: str | None = None, processed: int | None = None, defective: int | None = None,
                      current_job: str | None = None, mode: int | None = None) -> None:
        """Write what changed (None: leave as is); writes of equal values cost subscribers nothing."""
        if state is not None:
            await self.state.write_value(ua.LocalizedText(state))
            await self.state_id.write_value(ua.Variant(STATE_IDS[state], ua.VariantType.UInt32))
        if processed is not None:
            await self.processed.write_value(ua.Variant(processed, ua.VariantType.Int64))
        if defective is not None:
            await self.defective.write_value(ua.Variant(defective, ua.VariantType.Int64))
        if current_job is not None:
            await self.current_job.write_value(ua.Variant(current_job, ua.VariantType.String))
        if mode is not None:
            await self.mode.write_value(ua.Variant(mode, ua.VariantType.Int32))


async def add_unit(parent: Node, ns: int, name: str, state: str = "Stopped") -> UnitNodes:
    """Create one PackML unit under `parent` (browse names in namespace index `ns`)."""
    unit = await parent.add_object(ns, name)
    status = await unit.add_object(ns, "Status")
    admin = await unit.add_object(ns, "Admin")
    machine = await unit.add_object(ns, "BaseStateMachine")

    async def var(where: Node, browse: str, value: Any, kind: ua.VariantType) -> Node:
        return await where.add_variable(ns, browse, ua.Variant(value, kind))

    mode = await var(status, "UnitModeCurrent", PRODUCTION, ua.VariantType.Int32)
    supported = await var(status, "UnitSupportedModes", SUPPORTED_MODES, ua.VariantType.Int32)
    mach_speed = await var(status, "MachSpeed", 0.0, ua.VariantType.Float)
    cur_mach_speed = await var(status, "CurMachSpeed", 0.0, ua.VariantType.Float)
    blocked = await var(status, "EquipmentBlocked", False, ua.VariantType.Boolean)
    starved = await var(status, "EquipmentStarved", False, ua.VariantType.Boolean)
    current_job = await var(status, "CurrentJob", "", ua.VariantType.String)
    processed = await var(admin, "ProdProcessedCount", 0, ua.VariantType.Int64)
    defective = await var(admin, "ProdDefectiveCount", 0, ua.VariantType.Int64)
    current = await machine.add_variable(ns, "CurrentState", ua.LocalizedText(state))
    state_id = await current.add_property(ns, "Id", ua.Variant(STATE_IDS[state], ua.VariantType.UInt32))

    async def set_unit_mode(parent_node: ua.NodeId, requested: ua.Variant) -> list[ua.Variant]:
        value = int(requested.Value)
        if value not in SUPPORTED_MODES:
            raise ua.UaStatusCodeError(ua.StatusCodes.BadInvalidArgument)
        await mode.write_value(ua.Variant(value, ua.VariantType.Int32))
        return []

    await unit.add_method(ns, "SetUnitMode", set_unit_mode, [ua.VariantType.Int32], [])
    return UnitNodes(unit, mode, supported, mach_speed, cur_mach_speed, blocked, starved, current_job, processed,
                     defective, current, state_id)
