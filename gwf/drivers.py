"""Driver schemes that live above hardware/: importing this registers them with the URL registry.
`sim://` is the twin's cell model (sim/driver.py); hardware/ cannot import sim/, so the front
door wires it in."""
from __future__ import annotations


def register_all() -> None:
    import sim.driver  # noqa: F401  (registers sim://)
