"""The shared vocabulary: factory spec models, loading and validation, the default 1 GW catalog."""
from plant.demand import Order, orders_for
from plant.loader import DEFAULT_CATALOG, SpecError, load_spec, parse_spec
from plant.spec import CATEGORIES, CellType, FactorySpec, Operation, Product, deployable_gw

__all__ = ["CATEGORIES", "CellType", "DEFAULT_CATALOG", "FactorySpec", "Operation", "Order", "Product", "SpecError", "deployable_gw", "load_spec", "orders_for", "parse_spec"]
