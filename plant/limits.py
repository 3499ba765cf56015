"""How big a spec may be, checked before any work is done with it.

A spec is outside input: one file or request could ask for 16 million cells, a routing that
reworks forever, or a YAML alias bomb, and the service would build it until memory ran out.
Every limit sits far above a 10 GW/week floor (the default catalog times ten: about 5,200
cells, 15,000 cell slots, 68,000 units and 750,000 operations a week), so no real floor
meets one, and low enough that what the twin and the scheduler build from an accepted spec
fits in memory. Each refusal is a `LimitError` (a ValueError) whose message is
`field.path: ... (allowed ...)`; `plant.loader` prefixes the source.

The service uses this module directly: `MAX_SPEC_BYTES` for its request bodies (413),
`check_text` / `check_tree` / `load_json` on what it reads; `plant.demand.orders_for` calls
`check_plan_size` before it makes a horizon's orders.
"""
from __future__ import annotations

import json
import re
from typing import Any

import yaml

WEEK_S = 7 * 24 * 3600

# Text and structure: a spec file is a few kB (the default catalog is 12 kB).
MAX_SPEC_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 32  # a spec nests 7 levels; the YAML composer recurses and fails near 500
MAX_NODES = 500_000  # values in the document after aliases are expanded
MAX_NAME_CHARS = 200  # names, ids, prefixes (cell ids are built from them, once per cell)
MAX_URL_CHARS = 500

# The floor: the default catalog has 4 products, 11 operations at most, 12 cell types, 519 cells.
MAX_PRODUCTS = 1_000
MAX_ROUTING = 500  # operations in one routing
MAX_OPERATIONS = 20_000  # operations over all routings
MAX_CELL_TYPES = 1_000
MAX_CAPABILITIES = 1_000  # per cell type
MAX_WINDOWS = 100  # planned windows per cell type
MAX_CELL_GROUPS = 10_000
MAX_CELLS = 50_000  # per group and in total
MAX_CAPACITY = 1_000  # units one cell holds at once (a burn-in bay: 24)
MAX_SLOTS = 100_000  # cells x capacity: the twin runs one process per slot
MAX_FACTOR = 1_000.0  # duration factor of a capability
MAX_CV = 10.0

# Work per week: the default floor makes 6,812 units and ~75,000 operations a week.
MAX_UNITS_PER_WEEK = 1_000_000  # per product and in total
MAX_OPERATIONS_PER_WEEK = 5_000_000  # demand x expected visits per unit (rework included)
MAX_UNITS_PER_HOUR = MAX_UNITS_PER_WEEK / 168  # poisson release
MAX_WIP = 200_000  # conwip release puts this many units on the floor at once
MAX_VEHICLES = 10_000

# Time: how long one run must be, and how many events a week of it holds.
MAX_WORK_S = 2 * WEEK_S  # one operation, changeover, repair, trip or planned window
MAX_FLOW_S = 4 * WEEK_S  # a unit's shortest flow time (the twin's warm-up allowance is twice it)
MIN_MTTF_S = 60.0  # a failure every minute of work already means ~90x the catalog's stoppages
MIN_PERIOD_S = 60.0  # repeat period of a planned window
MAX_CALENDAR_S = 520 * WEEK_S  # mttf, window start and period: ten years is "never"

# Planning: the orders of one plan (a 10 GW floor over the service's longest horizon, 4 weeks,
# is ~3 million operations); as many as the largest week a spec may hold, so one week always fits.
MAX_PLAN_OPERATIONS = MAX_OPERATIONS_PER_WEEK


# libyaml's parser (when PyYAML has it) reads the events 20x faster; both keep their own stacks.
_EVENTS = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LimitError(ValueError):
    """A spec beyond a limit; the message names the field path and the allowed range."""


def describe() -> dict[str, float]:
    """Every limit by name (for docs, the API and error pages)."""
    return {name: value for name, value in globals().items() if name.startswith(("MAX_", "MIN_")) and isinstance(value, (int, float))}


def at_most(path: str, value: float, high: float, what: str = "") -> None:
    if not value <= high:
        raise LimitError(f"{path}: {number(value)}{' ' + what if what else ''} is above the limit (allowed: at most {number(high)})")


def number(x: float) -> str:
    """12,345 or 1.5e+09: readable in a one-line error."""
    if abs(x) >= 1e12:
        return f"{x:.3g}"
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    return f"{x:,}" if isinstance(x, int) else f"{x:,.3f}".rstrip("0").rstrip(".")


# ----------------------------------------------------------------------------- text and trees
def check_size(n_bytes: int) -> None:
    at_most("(document)", n_bytes, MAX_SPEC_BYTES, "bytes")


def check_text(text: str) -> None:
    """Size, nesting depth and expanded size of a YAML (or JSON) document, from the parser's
    event stream: the parser keeps its own stack, so a deep document is refused here before
    the recursive composer sees it, and an alias is charged the full size of its anchor."""
    if len(text) > MAX_SPEC_BYTES or len(text) * 4 > MAX_SPEC_BYTES:
        check_size(len(text.encode("utf-8", "surrogatepass")))
    try:
        _scan(text, _EVENTS)
    except yaml.YAMLError:
        if _EVENTS is yaml.SafeLoader:
            raise
        # libyaml refuses a few documents the pure parser reads (an escaped half surrogate pair);
        # the loader is the pure one, so its parser has the last word.
        _scan(text, yaml.SafeLoader)


def _scan(text: str, loader: Any) -> None:
    open_nodes: list[list[Any]] = []  # per open collection: [nodes before it, anchor, is_mapping, key or index, expects key]
    anchored: dict[str, int] = {}
    nodes = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            _child(open_nodes)
            if len(open_nodes) >= MAX_DEPTH:
                where = f"line {event.start_mark.line + 1}, column {event.start_mark.column + 1}"
                raise LimitError(f"{_path(open_nodes)}: nesting deeper than {MAX_DEPTH} levels at {where} (allowed: at most {MAX_DEPTH})")
            open_nodes.append([nodes, event.anchor, isinstance(event, yaml.MappingStartEvent), None if isinstance(event, yaml.MappingStartEvent) else -1, True])
            nodes += 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            start, anchor = open_nodes.pop()[:2]
            if anchor is not None:
                anchored[anchor] = nodes - start
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            top = open_nodes[-1] if open_nodes else None
            if top is not None and top[2] and top[4] and isinstance(event, yaml.ScalarEvent):
                top[3] = event.value  # a mapping key: remembered for the path
            _child(open_nodes)
            if isinstance(event, yaml.AliasEvent):
                nodes += anchored.get(event.anchor, 1)
            else:
                nodes += 1
                if event.anchor is not None:
                    anchored[event.anchor] = 1
        if nodes > MAX_NODES:
            raise LimitError(f"{_path(open_nodes) or '(document)'}: the document holds more than {MAX_NODES:,} values once its aliases "
                             f"are expanded (allowed: at most {MAX_NODES:,}; an alias counts everything its anchor holds)")


def _child(open_nodes: list[list[Any]]) -> None:
    """A node starts inside the innermost open collection: advance its index or key/value turn."""
    if not open_nodes:
        return
    top = open_nodes[-1]
    if top[2]:
        top[4] = not top[4]
    else:
        top[3] += 1


def _path(open_nodes: list[list[Any]]) -> str:
    out = ""
    for entry in open_nodes:
        part = entry[3]
        if part is None:
            continue
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)[:40]
    return out


def check_tree(value: Any) -> None:
    """Depth and size of a parsed document (JSON, or YAML whose aliases share objects),
    walked without recursion; a shared object is counted at every place it appears."""
    nodes = 0
    todo: list[tuple[Any, str, int]] = [(value, "", 0)]
    while todo:
        node, path, depth = todo.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise LimitError(f"{path or '(document)'}: the document holds more than {MAX_NODES:,} values (allowed: at most {MAX_NODES:,})")
        if isinstance(node, (dict, list)):
            if depth >= MAX_DEPTH:
                raise LimitError(f"{path or '(document)'}: nesting deeper than {MAX_DEPTH} levels (allowed: at most {MAX_DEPTH})")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                sub = f"{path}[{key}]" if isinstance(node, list) else f"{path}.{str(key)[:40]}" if path else str(key)[:40]
                todo.append((child, sub, depth + 1))


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def load_json(text: str) -> Any:
    """json.loads after checking size and depth (the decoder recurses: a deep enough document
    is a RecursionError, not a JSONDecodeError); json.JSONDecodeError is left to the caller.
    The depth scan follows keys and indices so the error names where the nesting is."""
    check_size(len(text.encode("utf-8", "surrogatepass")))
    open_nodes: list[list[Any]] = []  # per open collection: [is_object, key or index, expects key]
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        top = open_nodes[-1] if open_nodes else None
        if token in ("[", "{"):
            if len(open_nodes) >= MAX_DEPTH:
                where = "".join(f"[{p}]" if not o else f".{p}" for o, p, _ in open_nodes if p is not None).lstrip(".")
                raise LimitError(f"{where or '(document)'}: nesting deeper than {MAX_DEPTH} levels at character {match.start()} "
                                 f"(allowed: at most {MAX_DEPTH})")
            open_nodes.append([True, None, True] if token == "{" else [False, 0, False])
        elif token in ("]", "}"):
            if open_nodes:
                open_nodes.pop()
        elif token == ",":
            if top is not None:
                if top[0]:
                    top[2] = True
                else:
                    top[1] += 1
        elif top is not None and top[0] and top[2]:  # a key
            try:
                top[1] = str(json.loads(token))[:40]
            except ValueError:
                top[1] = token[1:-1][:40]
            top[2] = False
    value = json.loads(text)
    check_tree(value)
    return value


# ----------------------------------------------------------------------------- the floor
def check_plan_size(operations: float, hours: float) -> None:
    """The orders of `hours` of demand hold `operations` operations: one plan may hold so many."""
    at_most("demand_hours", operations, MAX_PLAN_OPERATIONS, f"operations to plan in {hours:g} h of demand")
