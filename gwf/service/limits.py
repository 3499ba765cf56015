"""What one request may ask of the server, checked on the raw request before any spec is built
or any plan is made: nesting, size, cells and demand of a spec; operations of a plan; weeks x
replications of a twin run. Each refusal is a ValueError naming the field (HTTP 422).

These guard the service until `plant` checks its own spec limits; they read plain data, never
a FactorySpec (building one is the work being guarded)."""
from __future__ import annotations

import json
from typing import Any

import yaml

MAX_DEPTH = 32  # a real spec nests 5 deep; Python's parsers recurse and fail near 1000
MAX_NODES = 200_000  # values in one spec; also stops YAML alias bombs, which expand by reference
MAX_CELLS = 20_000  # cells one spec may declare (the 1 GW catalog has ~500)
MAX_UNITS_PER_WEEK = 1_000_000  # units of weekly demand (1 GW is ~7,000)


class LimitError(ValueError):
    """A request larger than this server accepts; the message names the field."""


def parse_spec_text(text: str, media_type: str) -> Any:
    """JSON text as plain data (checked), YAML text as it is. JSON when the client says so
    (YAML readers mangle JSON's escaped surrogate pairs)."""
    if media_type.split(";")[0].strip().lower() in ("application/json", "text/json"):
        try:
            raw = json.loads(text)
        except RecursionError:
            raise LimitError(f"spec: nested deeper than {MAX_DEPTH} levels") from None
        except json.JSONDecodeError as exc:
            raise LimitError(f"spec: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        check_raw(raw)
        return raw
    return text  # YAML: read by `check_yaml` and then plant's loader


def check_yaml(text: str) -> None:
    """PyYAML's parser is a flat state machine but its composer recurses per level: walk the
    events first, so depth and aliases are counted without building anything."""
    depth = nodes = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise LimitError(f"spec: nested deeper than {MAX_DEPTH} levels")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                raise LimitError("spec: YAML aliases (*name) are not accepted; write the value out")
            nodes += 1
            if nodes > MAX_NODES:
                raise LimitError(f"spec: more than {MAX_NODES} values")
    except yaml.YAMLError:
        return  # the loader reports malformed YAML with its line and column


def check_raw(raw: Any) -> None:
    """Depth and size of parsed data (iterative: the data may be deeper than the stack), then
    cells and demand, read straight from the plain data."""
    stack: list[tuple[Any, int]] = [(raw, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise LimitError(f"spec: more than {MAX_NODES} values")
        if isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                raise LimitError(f"spec: nested deeper than {MAX_DEPTH} levels")
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    if isinstance(raw, dict):
        _check_counts(raw)


def _check_counts(raw: dict[str, Any]) -> None:
    cells = raw.get("cells")
    if isinstance(cells, list):
        total = 0
        for i, group in enumerate(cells):
            count = group.get("count", 1) if isinstance(group, dict) else 1
            if isinstance(count, (int, float)) and not isinstance(count, bool):
                if count > MAX_CELLS:
                    raise LimitError(f"spec: cells[{i}].count: {count:g} cells; at most {MAX_CELLS} in one spec")
                total += max(0, int(count))
        if total > MAX_CELLS:
            raise LimitError(f"spec: cells: {total} cells in all; at most {MAX_CELLS} in one spec")
    demand = raw.get("demand")
    if isinstance(demand, dict):
        for name, units in demand.items():
            if isinstance(units, (int, float)) and not isinstance(units, bool) and units > MAX_UNITS_PER_WEEK:
                raise LimitError(f"spec: demand.{name}: {units:g} units a week; at most {MAX_UNITS_PER_WEEK}")


def plan_operations(spec: Any, demand_hours: float) -> int:
    """Operations a plan of `demand_hours` of the spec's weekly demand holds, counted without
    making a single order."""
    share = demand_hours / 168.0
    return round(sum(units * share * len(spec.product_index[name].routing)
                     for name, units in spec.demand.items() if units > 0 and name in spec.product_index))


def check_plan_size(spec: Any, demand_hours: float, limit: int) -> None:
    operations = plan_operations(spec, demand_hours)
    if operations > limit:
        raise LimitError(f"demand_hours: {demand_hours:g} h of this spec's demand is {operations} operations; "
                         f"at most {limit} in one plan; ask for fewer hours")


def check_twin_size(weeks: float, replications: int, limit: float) -> None:
    if weeks * replications > limit:
        raise LimitError(f"replications: {weeks:g} weeks x {replications} replications = {weeks * replications:g} "
                         f"simulated weeks; at most {limit:g} in one job; ask for fewer")
