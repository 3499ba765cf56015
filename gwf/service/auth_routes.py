"""Routes about identity: who am I, tokens (admin) and the audit log (admin)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from gwf.service.auth import Identity, Role
from gwf.service.auth_http import require
from gwf.service.auth_models import AuditPage, Me, TokenCreated, TokenOut, TokenRequest
from gwf.service.auth_store import DatabaseAuthStore, UnknownToken, issue_token, revoke_token
from gwf.service.models import Problem

# Bad input answers like everywhere else: one line naming the field.
router = APIRouter(prefix="/api", tags=["access"], responses={422: {"model": Problem, "description": "bad input: `field.path: what is wrong`"}})
DENIED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no token, or an unknown or revoked one"},
    403: {"model": Problem, "description": "the token's role is below what the route needs"},
}


def _store(request: Request) -> DatabaseAuthStore:
    return request.app.state.audit


def _may(role: Role) -> dict[str, bool]:
    """What the dashboard should offer: the same ladder the routes enforce."""
    return {"plan": role.allows(Role.planner), "twin": role.allows(Role.planner), "dispatch": role.allows(Role.operator),
            "cancel": role.allows(Role.operator), "admin": role.allows(Role.admin)}


@router.get("/auth/me", response_model=Me, responses=DENIED, dependencies=[require(Role.viewer)])
def me(request: Request) -> dict[str, Any]:
    """The caller's identity and role, and whether the server is in local-development mode."""
    identity: Identity = request.state.identity
    return {**identity.to_dict(), "mode": "local" if identity.token_id is None else "token", "may": _may(identity.role)}


@router.get("/tokens", response_model=list[TokenOut], responses=DENIED, dependencies=[require(Role.admin)])
def list_tokens(store: DatabaseAuthStore = Depends(_store)) -> list[dict[str, Any]]:
    """Every token ever issued (never its secret), oldest first."""
    return [record.public() for record in store.all()]


@router.post("/tokens", status_code=201, response_model=TokenCreated, responses=DENIED,
             dependencies=[require(Role.admin)])
def create_token(body: TokenRequest, response: Response, store: DatabaseAuthStore = Depends(_store)) -> dict[str, Any]:
    """A new token; its secret is in this answer and nowhere else."""
    record, secret = issue_token(store, body.name, body.role)
    response.headers["Cache-Control"] = "no-store"
    return {**record.public(), "token": secret}


@router.delete("/tokens/{token_id}", response_model=TokenOut, responses={**DENIED, 404: {"model": Problem}},
               dependencies=[require(Role.admin)])
def delete_token(token_id: str, store: DatabaseAuthStore = Depends(_store)) -> dict[str, Any]:
    """Revoke a token: it answers 401 from now on. The record stays, for the audit."""
    try:
        return revoke_token(store, token_id).public()
    except UnknownToken as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/audit", response_model=AuditPage, responses=DENIED, dependencies=[require(Role.admin)])
def audit(
    limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=2**62),  # databases hold 64-bit integers
    who: str | None = Query(None, max_length=64, description="only this identity (a token's name, `local` or `anonymous`)"),
    store: DatabaseAuthStore = Depends(_store),
) -> dict[str, Any]:
    """State-changing requests, newest first: who, what, when, on what, and the outcome."""
    total, records = store.list(limit=limit, offset=offset, who=who)
    return {"total": total, "offset": offset, "limit": limit, "records": [r.to_dict() for r in records]}
