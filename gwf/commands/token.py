"""`gwf token create|list|revoke`: API tokens of `gwf serve`, kept (hashed) in the service's
database: GWF_DATABASE_URL when set, else the SQLite file in the data directory, the one a
server with the same settings uses. Every change is written to the same audit log the server keeps."""
from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Optional

import typer

token_app = typer.Typer(help="API tokens for `gwf serve`: create (the secret is shown once), list, revoke.", no_args_is_help=True)

DATA_DIR = typer.Option(None, "--data-dir", help="the server's data directory (default: GWF_DATA_DIR or out/service); its gwf.sqlite unless GWF_DATABASE_URL is set")


def _store(data_dir: Optional[Path]):  # noqa: ANN202 - a lazy import keeps `gwf --help` fast
    from gwf.service.auth_store import open_store
    from gwf.service.settings import ServiceSettings

    settings = ServiceSettings(**({"data_dir": data_dir} if data_dir is not None else {}))
    return open_store(settings)  # the server's database (GWF_DATABASE_URL respected), migrated first


def _audit(store, action: str, target: str, detail: str | None = None) -> None:  # noqa: ANN001
    from gwf.service.auth_store import AuditRecord, now_iso

    store.record(AuditRecord(at=now_iso(), who=f"cli:{getpass.getuser()}", action=f"cli: token {action}", status=0,
                             outcome="ok", role="admin", target=target, detail=detail, client="localhost"))


@token_app.command("create")
def create(
    role: str = typer.Option(..., help="viewer, planner (plan, twin), operator (dispatch, cancel) or admin (tokens, audit)"),
    name: str = typer.Option(..., help="who or what holds it, e.g. 'line-2-planner'"),
    data_dir: Optional[Path] = DATA_DIR,
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Create a token and print its secret once; only its SHA-256 is kept."""
    from gwf.service.auth_store import issue_token

    store = _store(data_dir)
    record, secret = issue_token(store, name, role)
    _audit(store, "create", record.id, f"{record.name} ({record.role.value})")
    if as_json:
        typer.echo(json.dumps({**record.public(), "token": secret}))
        return
    typer.echo(secret)
    typer.echo(f"token {record.id}: {record.name}, {record.role.value}. Shown once: keep it now "
               "(send it as 'Authorization: Bearer <token>', or paste it into the dashboard's sign-in).", err=True)


@token_app.command("list")
def list_tokens(data_dir: Optional[Path] = DATA_DIR, as_json: bool = typer.Option(False, "--json", help="print a JSON list")) -> None:
    """Every token issued (never a secret): id, name, role, created, revoked, last used."""
    records = [r.public() for r in _store(data_dir).all()]
    if as_json:
        typer.echo(json.dumps(records))
        return
    if not records:
        typer.echo("no tokens: a loopback server runs in local-development mode (everyone local is admin)")
        return
    for r in records:
        state = f"revoked {r['revoked']}" if r["revoked"] else f"last used {r['last_used'] or 'never'}"
        typer.echo(f"{r['id']}  {r['role']:<8}  {r['name']}  (created {r['created']}; {state})")


@token_app.command("revoke")
def revoke(token_id: str = typer.Argument(..., help="the id shown by `gwf token list`"), data_dir: Optional[Path] = DATA_DIR) -> None:
    """Revoke a token: the server answers 401 to it from the next request on."""
    from gwf.service.auth_store import revoke_token

    store = _store(data_dir)
    record = revoke_token(store, token_id)
    _audit(store, "revoke", record.id, record.name)
    typer.echo(f"token {record.id} ({record.name}, {record.role.value}) revoked at {record.revoked}")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
