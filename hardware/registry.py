"""Picks a driver class by the URL's scheme, as pyserial's serial_for_url picks a handler."""
from __future__ import annotations

from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

from hardware.driver import Driver

_DRIVERS: dict[str, type[Driver]] = {}
D = TypeVar("D", bound=type[Driver])


def register(*schemes: str) -> Callable[[D], D]:
    """Class decorator: `@register("mock")` makes `mock://...` URLs open that driver."""

    def wrap(cls: D) -> D:
        for scheme in schemes:
            _DRIVERS[scheme] = cls
        cls.scheme = schemes[0]
        return cls

    return wrap


def known_schemes() -> list[str]:
    _load_builtin()
    return sorted(_DRIVERS)


def driver_for_url(url: str, **options: Any) -> Driver:
    """A configured (not yet connected) driver for `url`; ValueError names valid schemes."""
    _load_builtin()
    scheme = urlsplit(url).scheme
    cls = _DRIVERS.get(scheme)
    if cls is None:
        raise ValueError(f"driver url {url!r}: unknown scheme {scheme!r}; valid: {', '.join(known_schemes())}")
    return cls(url, **options)


def _load_builtin() -> None:
    # Imported lazily so that a driver with optional heavy deps costs nothing until used.
    import importlib

    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


_BUILTIN_MODULES = ["hardware.mock", "hardware.cell_driver", "hardware.grbl", "hardware.modbus"]
