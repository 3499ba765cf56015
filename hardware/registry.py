"""Picks a driver class by the URL's scheme, as pyserial's serial_for_url picks a handler.

Each scheme names the module that implements it; that module is imported only when a URL
uses the scheme, so a protocol whose optional dependency is missing (pymodbus, asyncua)
breaks only its own URLs, never `mock://`. Modules register their classes with `@register`;
code outside hardware/ (a `sim://` driver in an upper layer) may add a scheme with
`add_scheme` or by importing its module, which calls `@register`.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

from hardware.driver import Driver

D = TypeVar("D", bound=type[Driver])

# scheme -> module that registers it. The one place a new protocol is announced.
SCHEME_MODULES: dict[str, str] = {
    "mock": "hardware.mock.driver",
    **{scheme: "hardware.cellproto.driver" for scheme in ("serial", "loop", "socket", "rfc2217")},
    **{f"grbl+{t}": "hardware.grbl.driver" for t in ("serial", "loop", "socket", "rfc2217")},
    "modbus+serial": "hardware.modbus.driver",
    "opcua": "hardware.opcua.driver",
}

_DRIVERS: dict[str, type[Driver]] = {}


class SchemeUnavailable(ValueError):
    """The URL's scheme is known but its module cannot be imported (a missing optional dependency)."""


def register(*schemes: str) -> Callable[[D], D]:
    """Class decorator: `@register("mock")` makes `mock://...` URLs open that driver."""

    def wrap(cls: D) -> D:
        for scheme in schemes:
            _DRIVERS[scheme] = cls
        cls.scheme = schemes[0]
        return cls

    return wrap


def add_scheme(scheme: str, module: str) -> None:
    """Announce that `module` implements `scheme` (imported on first use)."""
    SCHEME_MODULES[scheme] = module


def known_schemes() -> list[str]:
    return sorted({*SCHEME_MODULES, *_DRIVERS})


def driver_class(scheme: str, url: str = "") -> type[Driver]:
    """The class for `scheme`, importing its module on first use. ValueError names valid schemes."""
    cls = _DRIVERS.get(scheme)
    if cls is not None:
        return cls
    module = SCHEME_MODULES.get(scheme)
    if module is None:
        raise ValueError(f"driver url {url!r}: unknown scheme {scheme!r}; valid: {', '.join(known_schemes())}")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise SchemeUnavailable(
            f"driver url {url!r}: scheme {scheme!r} needs {module}, which cannot be imported: {exc}"
        ) from exc
    cls = _DRIVERS.get(scheme)
    if cls is None:
        raise SchemeUnavailable(f"driver url {url!r}: module {module} does not register scheme {scheme!r}")
    return cls


def driver_for_url(url: str, **options: Any) -> Driver:
    """A configured (not yet connected) driver for `url`; ValueError names valid schemes."""
    scheme = urlsplit(url).scheme
    return driver_class(scheme, url)(url, **options)
