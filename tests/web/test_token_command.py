"""`gwf token` as an administrator runs it: the secret printed once (and working against the
server on the same database, SQLite file or PostgreSQL), never listed again, revocation
effective at once, every change in the server's audit log, bad input one line and exit 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

from fastapi.testclient import TestClient

from gwf.service import ServiceSettings, create_app
from web_support import TINY

ROOT = Path(__file__).resolve().parents[2]


def gwf(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """`gwf` in its own process; with `database_url` it writes where a server on that database reads."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("GWF_DATABASE_URL", None)
    if database_url is not None:
        env["GWF_DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "gwf", *args], capture_output=True, text=True, timeout=60, env=env)


def test_create_list_revoke_against_a_running_app(tmp_path: Path, database_url: str | None) -> None:
    run = partial(gwf, database_url=database_url)
    made = run("token", "create", "--role", "planner", "--name", "anna", "--data-dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("gwf_") and len(made.stdout.splitlines()) == 1  # scripts can capture it alone
    assert "Shown once" in made.stderr

    listed = run("token", "list", "--json", "--data-dir", str(tmp_path))
    tokens = json.loads(listed.stdout)
    assert [(t["name"], t["role"], t["revoked"]) for t in tokens] == [("anna", "planner", None)]
    # the random part is all after `gwf_<id>_`: url-safe base64 may itself contain '_'
    assert secret not in listed.stdout and secret.split("_", 2)[2] not in listed.stdout

    settings = ServiceSettings(data_dir=tmp_path, spec=TINY, allowed_hosts=["testserver"], database_url=database_url)
    with TestClient(create_app(settings)) as client:
        auth = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/auth/me", headers=auth).json()["role"] == "planner"
        assert client.get("/api/auth/me").status_code == 401  # a token exists: no local-development mode
        revoked = run("token", "revoke", tokens[0]["id"], "--data-dir", str(tmp_path))
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        assert client.get("/api/auth/me", headers=auth).status_code == 401  # the running server sees it at once

    admin = run("token", "create", "--role", "admin", "--name", "ops", "--data-dir", str(tmp_path), "--json")
    with TestClient(create_app(settings)) as client:
        records = client.get("/api/audit", headers={"Authorization": f"Bearer {json.loads(admin.stdout)['token']}"}).json()["records"]
    actions = [(r["action"], r["target"]) for r in reversed(records)]
    assert actions == [("cli: token create", tokens[0]["id"]), ("cli: token revoke", tokens[0]["id"]),
                       ("cli: token create", json.loads(admin.stdout)["id"])]
    assert all(r["who"].startswith("cli:") for r in records)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, message in [
        (("create", "--role", "root", "--name", "x"), "gwf: error: role: 'root' is not a role; valid: viewer, planner, operator, admin"),
        (("create", "--role", "viewer", "--name", " "), "gwf: error: name: 1 to 64 printable characters (a person or a machine, e.g. 'line-2-planner')"),
        (("revoke", "nope"), "gwf: error: token_id: no token 'nope'; known: none"),
    ]:
        done = gwf("token", *args, "--data-dir", str(tmp_path))
        assert done.returncode == 2 and done.stderr.strip().splitlines() == [message], done.stderr


def test_the_database_file_is_for_the_servers_account_only(tmp_path: Path) -> None:
    assert gwf("token", "create", "--role", "viewer", "--name", "wall", "--data-dir", str(tmp_path)).returncode == 0
    files = sorted(tmp_path.glob("gwf.sqlite*"))
    assert files and all(p.stat().st_mode & 0o077 == 0 for p in files)  # token digests and the audit live here
    assert not (tmp_path / "auth.sqlite").exists()
