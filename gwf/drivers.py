"""Driver schemes that live above hardware/, announced to its URL registry. `sim://` is the
twin's cell model (sim/driver.py): hardware/ cannot import sim/, so the front door wires it in,
and the module is imported only when a sim:// URL is opened."""
from __future__ import annotations

from hardware.registry import add_scheme


def register_all() -> None:
    add_scheme("sim", "sim.driver")
