"""The spec's JSON Schema, generated from the pydantic models, so editors complete and check
spec files (YAML language servers read JSON Schema). Cross-references (a routing step's
capability offered by a cell on the floor, a DAG routing, totals within plant.limits) are
checked by the models themselves, which the schema cannot express."""
from __future__ import annotations

from typing import Any

from plant.spec import FactorySpec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def spec_schema() -> dict[str, Any]:
    schema = FactorySpec.model_json_schema(mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": "https://gwfactory.invalid/spec.schema.json",
        **schema,
        "title": "gwfactory factory spec",
        "description": "A floor: products and routings, cell types and cells, weekly demand and target (docs/spec.md). "
                       "`gwf spec check SPEC` also checks what a schema cannot: references, cycles and limits.",
    }
