"""Tokens and the audit log live in the service's database: two servers on one PostgreSQL
(one a real `gwf serve` process; and `gwf token` in its own process) share tokens, revocations, the local-development rule
and one audit log; a token file of an earlier version moves in once; text PostgreSQL cannot
hold (NUL) never breaks the audit."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from db_support import fresh_postgres_schema
from gwf.service import ServiceSettings, create_app
from gwf.service.auth import Role, digest, new_token
from serve_support import Served
from test_token_command import gwf
from web_support import TINY


@pytest.fixture
def shared_postgres() -> Iterator[str]:
    yield from fresh_postgres_schema()


def _settings(data_dir: Path, database_url: str | None) -> ServiceSettings:
    return ServiceSettings(data_dir=data_dir, spec=TINY, workers=1, job_threads=1, database_url=database_url,
                           client_rate=1000, client_burst=1000, allowed_hosts=["testserver"])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_two_servers_on_one_postgresql_share_tokens_revocation_and_audit(tmp_path: Path, shared_postgres: str) -> None:
    """Server A in this process, server B a real `gwf serve` process, the CLI a third one."""
    b = Served(tmp_path / "b", TINY, database_url=shared_postgres, client_rate=1000, client_burst=1000)
    try:
        with TestClient(create_app(_settings(tmp_path / "a", shared_postgres))) as a:
            _share(a, b.client, tmp_path, shared_postgres)
    finally:
        b.stop()


def _share(a: TestClient, b: httpx.Client, tmp_path: Path, shared_postgres: str) -> None:
    # No token anywhere yet: both are in local-development mode.
    assert a.get("/api/auth/me").json()["mode"] == "local" and b.get("/api/auth/me").json()["mode"] == "local"
    made = a.post("/api/tokens", json={"name": "ops", "role": "admin"})
    assert made.status_code == 201
    ops = made.json()["token"]
    # The first token, issued through A, ends the mode on B too (B had already answered "local").
    assert b.get("/api/auth/me").status_code == 401
    assert b.get("/api/auth/me", headers=_auth(ops)).json() == {
        "name": "ops", "role": "admin", "token_id": made.json()["id"], "mode": "token",
        "may": {"plan": True, "twin": True, "dispatch": True, "cancel": True, "admin": True}}

    # A token from the CLI, in a process of its own, on the same database.
    cli = gwf("token", "create", "--role", "viewer", "--name", "wall", "--data-dir", str(tmp_path / "c"), "--json",
              database_url=shared_postgres)
    assert cli.returncode == 0, cli.stderr
    wall = json.loads(cli.stdout)
    assert b.get("/api/auth/me", headers=_auth(wall["token"])).json()["role"] == "viewer"
    assert a.get("/api/auth/me", headers=_auth(wall["token"])).json()["role"] == "viewer"

    anna = a.post("/api/tokens", json={"name": "anna", "role": "planner"}, headers=_auth(ops)).json()
    assert b.get("/api/auth/me", headers=_auth(anna["token"])).json()["role"] == "planner"
    assert a.delete(f"/api/tokens/{anna['id']}", headers=_auth(ops)).status_code == 200
    refused = b.get("/api/auth/me", headers=_auth(anna["token"]))
    assert refused.status_code == 401 and f"token {anna['id']} (anna) was revoked" in refused.json()["detail"]
    assert b.post("/api/jobs/nope/cancel", headers=_auth(ops)).status_code == 404
    assert b.post("/api/schedules", json={}, headers=_auth(wall["token"])).status_code == 403

    # B writes a record after its answer has gone out (off the event loop): wait for both.
    deadline = time.monotonic() + 10
    while (log := a.get("/api/audit", headers=_auth(ops)).json())["total"] < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b.get("/api/audit", headers=_auth(ops)).json() == log  # one log, whichever server is asked
    records = list(reversed(log["records"]))
    actions = [(r["who"], r["action"], r["status"]) for r in records]
    assert actions[0] == ("local", "POST /api/tokens", 201)                      # on A
    assert actions[1][1] == "cli: token create" and actions[1][0].startswith("cli:")  # the CLI
    assert actions[2:4] == [("ops", "POST /api/tokens", 201), ("ops", "DELETE /api/tokens/{token_id}", 200)]  # on A
    assert sorted(actions[4:]) == [("ops", "POST /api/jobs/{job_id}/cancel", 404), ("wall", "POST /api/schedules", 403)]  # on B
    assert [r["client"] for r in records[4:]] == ["127.0.0.1", "127.0.0.1"]  # B's requests came over TCP
    assert len({r["seq"] for r in records}) == log["total"] == 6


def _legacy_file(path: Path) -> tuple[str, str]:
    """An auth.sqlite as versions before the database wrote it: one admin token, one revoked, two audit records."""
    admin, secret = new_token("ops", Role.admin, "2026-11-01T00:00:00.000+00:00")
    gone, _ = new_token("old", Role.viewer, "2026-11-01T00:00:01.000+00:00")
    path.parent.mkdir(parents=True, exist_ok=True)
    legacy = sqlite3.connect(path)
    legacy.executescript("""
        CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, digest TEXT NOT NULL,
            created TEXT NOT NULL, revoked TEXT, last_used TEXT);
        CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL, token_id TEXT,
            role TEXT, action TEXT NOT NULL, target TEXT, status INTEGER NOT NULL, outcome TEXT NOT NULL, detail TEXT, client TEXT);""")
    legacy.executemany("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?)", [
        (admin.id, admin.name, "admin", admin.digest, admin.created, None, None),
        (gone.id, gone.name, "viewer", gone.digest, gone.created, "2026-11-02T00:00:00.000+00:00", None)])
    legacy.executemany("INSERT INTO audit (at, who, token_id, role, action, target, status, outcome, detail, client) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        ("2026-11-01T00:00:00.000+00:00", "cli:root", None, "admin", "cli: token create", admin.id, 0, "ok", None, "localhost"),
        ("2026-11-01T00:05:00.000+00:00", "ops", admin.id, "admin", "POST /api/twin", None, 422, "refused", "weeks: too long", "10.0.0.7")])
    legacy.commit()
    legacy.close()
    return secret, gone.id


def test_a_token_file_of_an_earlier_version_moves_into_the_database(tmp_path: Path, database_url: str | None) -> None:
    data = tmp_path / "data"
    secret, gone = _legacy_file(data / "auth.sqlite")
    for start in range(2):  # the second start finds the file renamed and copies nothing twice
        with TestClient(create_app(_settings(data, database_url))) as client:
            assert client.get("/api/auth/me").status_code == 401  # tokens were issued: no local-development mode
            assert client.get("/api/auth/me", headers=_auth(secret)).json()["name"] == "ops"
            tokens = client.get("/api/tokens", headers=_auth(secret)).json()
            assert [(t["name"], t["revoked"] is not None) for t in tokens] == [("ops", False), ("old", True)]
            records = client.get("/api/audit", headers=_auth(secret)).json()["records"]
        assert [(r["who"], r["action"], r["status"], r["detail"]) for r in reversed(records)][:2] == [
            ("cli:root", "cli: token create", 0, None), ("ops", "POST /api/twin", 422, "weeks: too long")]
        assert not (data / "auth.sqlite").exists() and (data / "auth.sqlite.imported").exists()
    assert len(records) == 2  # GETs are not audited, and nothing was copied twice
    assert any(t["id"] == gone for t in tokens)


def test_a_copy_cut_short_before_the_rename_is_not_repeated(tmp_path: Path, database_url: str | None) -> None:
    """The database commit and the rename are two steps: a start killed between them finds the
    file again and must neither duplicate the log nor fail on the tokens already there."""
    from gwf.service.auth_store import open_store

    data = tmp_path / "data"
    _legacy_file(data / "auth.sqlite")
    settings = _settings(data, database_url)
    store = open_store(settings)
    (data / "auth.sqlite.imported").rename(data / "auth.sqlite")  # as if the rename never happened
    store.close()
    again = open_store(settings)
    total, _ = again.list()
    assert total == 2 and len(again.all()) == 2 and (data / "auth.sqlite.imported").exists()
    again.close()


def test_an_unreadable_token_file_is_left_alone_and_the_server_starts(tmp_path: Path, database_url: str | None) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "auth.sqlite").write_bytes(b"not a database, a disk that filled up" * 100)
    with TestClient(create_app(_settings(data, database_url))) as client:
        assert client.get("/api/auth/me").json()["mode"] == "local"
    assert (data / "auth.sqlite").exists() and not (data / "auth.sqlite.imported").exists()


def test_a_path_with_nul_and_newlines_is_audited_as_one_printable_line(client: TestClient) -> None:
    # PostgreSQL refuses NUL in text: the audit must still record the request, not fail it.
    assert client.post("/api/no%00where%0Ahere").status_code == 404
    assert client.post("/api/tokens", json={"name": "ops", "role": "admin"}).status_code == 201
    record = client.app.state.audit.list(limit=2)[1][1]
    assert record.action == "POST /api/no where here" and record.status == 404 and record.outcome == "refused"


def test_token_digests_are_sha256_of_the_whole_secret(client: TestClient) -> None:
    made = client.post("/api/tokens", json={"name": "ops", "role": "admin"}).json()
    stored = client.app.state.audit.get(made["id"])
    assert stored is not None and stored.digest == digest(made["token"]) and made["token"] not in repr(stored)


def test_last_use_is_written_at_most_once_a_minute_per_server(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    store = client.app.state.audit
    made = client.post("/api/tokens", json={"name": "wall", "role": "viewer"}).json()
    writes: list[str] = []
    real_touch = store.touch
    monkeypatch.setattr(store, "touch", lambda token_id, at: (writes.append(token_id), real_touch(token_id, at)))
    for _ in range(5):
        assert client.get("/api/auth/me", headers=_auth(made["token"])).status_code == 200
    assert writes == [made["id"]]  # a read is not a database write
    assert store.get(made["id"]).last_used is not None
