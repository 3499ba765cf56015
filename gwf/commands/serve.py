"""`gwf serve`: the HTTP API and web dashboard on uvicorn."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gwf.options import resolve_spec, spec_alias_option


KEEP_ALIVE_S = 75


def serve(
    spec: Optional[Path] = typer.Argument(None, metavar="SPEC", show_default=False, help="default factory spec (default: GWF_SPEC or the built-in 1 GW catalog)"),
    spec_alias: Optional[Path] = spec_alias_option(),
    host: Optional[str] = typer.Option(None, help="interface to listen on (default: GWF_HOST or 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, help="TCP port (default: GWF_PORT or 8000)"),
    data_dir: Optional[Path] = typer.Option(None, help="where schedules and the dispatch journal are kept (default: GWF_DATA_DIR or out/service)"),
    allowed_host: Optional[list[str]] = typer.Option(None, "--allowed-host", help="a Host name clients use to reach this server (repeat; default: GWF_ALLOWED_HOSTS or loopback names)"),
) -> None:
    """Serve the HTTP API (/api, OpenAPI at /docs) and the dashboard (/)."""
    import uvicorn

    from gwf.service import ServiceSettings, create_app

    spec = resolve_spec(spec, spec_alias)
    overrides = {k: v for k, v in {"host": host, "port": port, "spec": spec, "data_dir": data_dir, "allowed_hosts": allowed_host or None}.items() if v is not None}
    settings = ServiceSettings(**overrides)
    app = create_app(settings)  # a bad spec fails here, as one line, before the port opens
    typer.echo(app.state.auth.describe(), err=True)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            # End the live-event streams first: open browser tabs would otherwise hold the
            # shutdown until the graceful timeout.
            app.state.service.bus.close()
            super().handle_exit(sig, frame)

    # Keep idle connections longer than clients keep them (httpx, browsers: 5 s or more): with
    # uvicorn's 5 s default a client reusing a connection the server is closing that instant
    # gets a ReadError / RemoteProtocolError instead of its answer.
    config = uvicorn.Config(app, host=settings.host, port=settings.port, timeout_graceful_shutdown=3, log_level="info",
                            timeout_keep_alive=KEEP_ALIVE_S)
    Server(config).run()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
