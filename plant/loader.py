"""Reads a factory spec file (YAML or JSON) into a FactorySpec, turning every problem into one
line that names the field path and what would be valid."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from plant import limits
from plant.spec import FactorySpec

DEFAULT_CATALOG = Path(__file__).parent / "catalogs" / "gw1.yaml"


class SpecError(ValueError):
    """A spec file that cannot be used; the message is one line: `path: what is wrong`."""

    def __init__(self, message: str) -> None:
        # Values quoted from the file may hold newlines; the message must stay one line.
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))


def load_spec(path: str | Path | None = None) -> FactorySpec:
    """The spec at `path`, or the built-in 1 GW/week catalog when `path` is None."""
    path = Path(path) if path is not None else DEFAULT_CATALOG
    try:
        if path.is_file() and path.stat().st_size > limits.MAX_SPEC_BYTES:  # refuse before reading it
            limits.check_size(path.stat().st_size)
        text = path.read_text(encoding="utf-8")
    except limits.LimitError as exc:
        raise SpecError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read spec file ({exc.__class__.__name__}: {exc})") from None
    return parse_spec(text, source=str(path))


def parse_spec(text: str, source: str = "<spec>") -> FactorySpec:
    try:
        limits.check_text(text)  # depth and aliases from the event stream, before the recursive composer
        raw = yaml.safe_load(text)
    except limits.LimitError as exc:
        raise SpecError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source}: not valid YAML at {where}: {problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: the spec must be a mapping with keys products, cell_types, cells, demand, target")
    return spec_from_dict(raw, source)


def parse_json_spec(text: str, source: str = "<spec>") -> FactorySpec:
    """A spec sent as JSON text: size and depth checked before the (recursive) decoder runs."""
    try:
        raw = limits.load_json(text)
    except limits.LimitError as exc:
        raise SpecError(f"{source}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: the spec must be a JSON object with keys products, cell_types, cells, demand, target")
    return spec_from_dict(raw, source)


def spec_from_dict(raw: dict[str, Any], source: str = "<spec>") -> FactorySpec:
    try:
        limits.check_tree(raw)
        return FactorySpec.model_validate(raw)
    except limits.LimitError as exc:
        raise SpecError(f"{source}: {exc}") from None
    except ValidationError as exc:
        raise SpecError(f"{source}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError, root: Any = FactorySpec) -> str:
    """The first error as `field.path[2]: message`, plus how many more there are; `root` is
    the model the paths start from (for the list of valid fields after an unknown one)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    message = _clean(first["msg"])
    path = format_loc(first["loc"])
    if first["type"] == "extra_forbidden":
        message = "unknown field" + _valid_fields(first["loc"], root)
    elif first["type"] == "missing":
        message = "required field is missing"
    elif first["type"] in _BOUND_ERRORS and root is FactorySpec:
        message = f"{_shown(first.get('input'))} is outside the allowed range ({_allowed(first['loc'], root)})"
    # Cross-reference errors raised inside model validators carry their own path relative
    # to the model that raised them.
    match = re.match(r"^([A-Za-z_][\w.\[\]-]*): (.*)$", message, re.S)
    if match and first["type"] == "value_error":
        path = ".".join(p for p in (path, match.group(1)) if p)
        message = match.group(2)
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{path or '(top level)'}: {message}{more}"


_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _allowed(loc: tuple[Any, ...], root: Any) -> str:
    """`1 ≤ value ≤ 50000` from the bounds declared on the field at `loc`."""
    low, high = _bounds(loc, root)
    parts = []
    if low is not None:
        parts.append(f"{limits.number(low[0])} {'<' if low[1] else '≤'} ")
    parts.append("value")
    if high is not None:
        parts.append(f" {'<' if high[1] else '≤'} {limits.number(high[0])}")
    return "".join(parts)


def _bounds(loc: tuple[Any, ...], root: Any) -> tuple[tuple[float, bool] | None, tuple[float, bool] | None]:
    """(low, strict), (high, strict) declared for the value at `loc`, following models, lists,
    dicts and Optional down from `root`."""
    import annotated_types as at
    from typing import Annotated, Union, get_args, get_origin

    annotation: Any = root
    metadata: list[Any] = []
    for part in loc:
        metadata = []
        while get_origin(annotation) in (Union, getattr(__import__("types"), "UnionType", Union)):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        if hasattr(annotation, "model_fields") and isinstance(part, str):
            field = annotation.model_fields.get(part)
            if field is None:
                return None, None
            annotation, metadata = field.annotation, list(field.metadata)
        elif get_origin(annotation) in (list, dict):
            annotation = get_args(annotation)[-1]
        else:
            continue  # pydantic's name for a validator step
        while get_origin(annotation) is Annotated or get_origin(annotation) in (Union, getattr(__import__("types"), "UnionType", Union)):
            if get_origin(annotation) is Annotated:
                args = get_args(annotation)
                annotation = args[0]
                for extra in args[1:]:
                    metadata += list(getattr(extra, "metadata", [extra]))
            else:
                annotation = next(a for a in get_args(annotation) if a is not type(None))
    low = high = None
    for m in metadata:
        if isinstance(m, at.Ge):
            low = (float(m.ge), False)
        elif isinstance(m, at.Gt):
            low = (float(m.gt), True)
        elif isinstance(m, at.Le):
            high = (float(m.le), False)
        elif isinstance(m, at.Lt):
            high = (float(m.lt), True)
    return low, high


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-"):
            continue  # pydantic's name for a BeforeValidator step, not a field
        else:
            out += ("." if out else "") + str(part)
    return out


def _clean(msg: str) -> str:
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _valid_fields(loc: tuple[Any, ...], root: Any = FactorySpec) -> str:
    """`; valid: a, b, c` for the model that holds the unknown field."""
    from typing import get_args, get_origin

    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        annotation = field.annotation
        while get_origin(annotation) is not None:
            args = [a for a in get_args(annotation) if hasattr(a, "model_fields")]
            annotation = args[0] if args else get_args(annotation)[-1]
        model = annotation
    fields = getattr(model, "model_fields", None)
    return f"; valid: {', '.join(fields)}" if fields else ""
