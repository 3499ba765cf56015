"""Authentication and the browser-facing defences as HTTP: a FastAPI dependency per role
(declared in OpenAPI as the bearer scheme `token` with the role as its scope), the `Host`
and `Origin` checks, security headers with a Content-Security-Policy, and the audit of
every state-changing request. `install` wires it all into an app and refuses to start when
a route under /api has no access rule."""
from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request, Security, routing
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gwf.service.auth import AuthError, Authenticator, Identity, Role, check_exposure, is_loopback
from gwf.service.auth_store import AuditRecord, now_iso
from gwf.service.settings import ServiceSettings

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCHEME = "token"
bearer = HTTPBearer(auto_error=False, scheme_name=SCHEME,
                    description="an API token from `gwf token create` (or POST /api/tokens); the operation's scope is the least role it needs")
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_RULE = "gwf_access_rule"
# Headers that say a proxy stands between the client and this server.
_PROXY_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


# Token look-ups (a database read per request, exact: a revoked token is refused at once) run on
# a thread of their own. Not on the event loop: the database may make them wait. Not on the
# shared worker pool either: forty threads taking turns with the event loop for the GIL made
# every read wait seconds behind the queue under load.
_LOOKUPS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gwf-auth")


async def _identify(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Identity:
    auth: Authenticator = request.app.state.auth
    proxied = any(name in _PROXY_HEADERS for name, _ in request.scope["headers"])
    lookup = functools.partial(auth.identify, credentials.credentials if credentials else None, proxied=proxied, now=now_iso())
    identity = await asyncio.get_running_loop().run_in_executor(_LOOKUPS, lookup)
    request.state.identity = identity  # the audit reads it after the answer
    return identity


def require(role: Role) -> Any:
    """`dependencies=[require(Role.planner)]`: the route needs that role or a higher one."""

    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Identity:
        identity = await _identify(request, credentials)
        route = request.scope.get("route")
        Authenticator.check(identity, role, f"{request.method} {getattr(route, 'path', request.url.path)}")
        return identity

    setattr(check, _RULE, role)
    return Security(check, scopes=[role.value])


def public() -> Any:
    """`dependencies=[public()]`: anyone may call the route (health checks)."""

    async def check(request: Request) -> None:
        return None

    setattr(check, _RULE, "public")
    return Depends(check)


def identity_of(request: Request) -> Identity | None:
    return getattr(request.state, "identity", None)


def rule_of(route: APIRoute) -> Role | str | None:
    for dependency in route.dependant.dependencies:
        rule = getattr(dependency.call, _RULE, None)
        if rule is not None:
            return rule
    return None


def check_rules(app: FastAPI) -> None:
    """Every route under /api says who may call it (a new one without a rule stops the app),
    and the refusals a protected route can answer are in its OpenAPI description."""
    missing = []
    for context in routing.iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.path.startswith("/api"):
            continue
        rule = rule_of(route)
        if rule is None:
            missing.append(f"{','.join(sorted(route.methods))} {context.path}")
        elif isinstance(rule, Role):
            refusals = {401: _refusal("no token, or an unknown or revoked one")}
            if rule is not Role.viewer:
                refusals[403] = _refusal(f"the token's role is below {rule.value}")
            for responses in {id(r): r for r in (route.responses, getattr(context, "responses", None)) if r is not None}.values():
                for status, answer in refusals.items():
                    responses.setdefault(status, answer)
    if missing:
        raise RuntimeError(f"routes without an access rule (add dependencies=[require(Role.x)] or [public()]): {'; '.join(missing)}")


def _refusal(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def allowed_hosts(settings: ServiceSettings) -> frozenset[str]:
    """Names a request's `Host` may carry: the configured ones, else loopback names plus the
    listening address when that is a specific one. Anything else is a DNS-rebinding attempt
    or a misconfigured proxy."""
    names = {h.lower().strip("[]") for h in settings.allowed_hosts}
    if not names:
        names = set(LOOPBACK_NAMES)
        if settings.host not in ("0.0.0.0", "::", ""):
            names.add(settings.host.lower().strip("[]"))
    return frozenset(names)


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8000
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _problem_bytes(detail: str, field: str | None) -> bytes:
    return json.dumps({"detail": detail.replace("\n", "\\n"), "field": field}).encode()


async def _answer(send: Send, status: int, detail: str, field: str | None) -> None:
    body = _problem_bytes(detail, field)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# ---------- Content-Security-Policy ----------
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.S | re.I)
_BASE_POLICY = ("default-src 'none'; connect-src 'self'; img-src 'self' data:; font-src 'self'; "
                "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")
# The dashboard's: scripts and styles only from files this server ships.
DEFAULT_POLICY = f"{_BASE_POLICY}; script-src 'self'; style-src 'self'"


def content_policy(html: str, *, inline_scripts: int) -> str:
    """A policy for a page this server generates: scripts from this server plus the page's
    first `inline_scripts` inline scripts, each allowed by the hash of its exact text. Only
    the expected number is hashed, so markup smuggled into the page's data (a product named
    `</script><script>…`) adds a script block that never runs, and `<img onerror=…>` never
    runs either (inline handlers are not hashes). Generated pages style elements inline,
    which cannot run code."""
    blocks = [m.group(1) for m in _INLINE_SCRIPT.finditer(html)][:inline_scripts]
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)
    return f"{_BASE_POLICY}; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'"


def html_page(html: str, *, inline_scripts: int) -> HTMLResponse:
    return HTMLResponse(html, headers={"Content-Security-Policy": content_policy(html, inline_scripts=inline_scripts)})


_SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                     (b"x-frame-options", b"DENY")]


class Door:
    """Plain ASGI in front of the app: refuses foreign `Host`s (DNS rebinding) and cross-site
    writes (a page elsewhere posting to this server through the user's browser), and adds the
    security headers to every answer, with the strict policy unless a route set its own."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str]) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get(b"host", "")
        if _host_name(host) not in self.hosts:
            return await _answer(send, 400, f"host: {host[:100]!r} is not a name of this server; allowed: "
                                 f"{', '.join(sorted(self.hosts))} (set GWF_ALLOWED_HOSTS)", "host")
        if scope["method"] in _UNSAFE:
            origin = headers.get(b"origin")
            site = headers.get(b"sec-fetch-site")
            if (origin is not None and urlsplit(origin).netloc.lower() != host.lower()) or site in ("cross-site", "same-site"):
                return await _answer(send, 403, f"origin: a cross-site request ({origin or site}) may not change anything here", "origin")

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = list(message.get("headers", [])) + _SECURITY_HEADERS
                if not any(k.lower() == b"content-security-policy" for k, _ in out):
                    out.append((b"content-security-policy", DEFAULT_POLICY.encode()))
                message = {**message, "headers": out}
            await send(message)

        await self.app(scope, receive, secured)


# ---------- audit ----------
_AUDIT_BODY_MAX = 64 * 1024


class Audit:
    """Records every state-changing request under /api: who (from the access rule), what
    (method and route), when, what it acted on and how it ended, refusals included."""

    def __init__(self, app: ASGIApp, *, log: Any) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _UNSAFE or not scope["path"].startswith("/api"):
            return await self.app(scope, receive, send)
        seen: dict[str, Any] = {"status": 500, "body": b""}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body" and len(seen["body"]) < _AUDIT_BODY_MAX:
                seen["body"] += message.get("body", b"")[:_AUDIT_BODY_MAX]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            # A database write: on a worker thread, so the event loop never waits for it.
            await run_in_threadpool(self.log.record, _audit_record(scope, seen["status"], seen["body"]))


def _audit_record(scope: Scope, status: int, body: bytes) -> AuditRecord:
    identity: Identity | None = (scope.get("state") or {}).get("identity")
    route = scope.get("route")
    try:
        answer = json.loads(body) if body else {}
    except (ValueError, UnicodeDecodeError):
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    params = scope.get("path_params") or {}
    target = answer.get("id") if 200 <= status < 300 else None
    target = target or ",".join(str(v) for v in params.values()) or None
    outcome = "ok" if status < 400 else "denied" if status in (401, 403) else "failed" if status >= 500 else "refused"
    client = scope.get("client")
    return AuditRecord(
        at=now_iso(), who=identity.name if identity else "anonymous", action=f"{scope['method']} {getattr(route, 'path', scope['path'])}",
        status=status, outcome=outcome, token_id=identity.token_id if identity else None,
        role=identity.role.value if identity else None, target=str(target) if target else None,
        detail=answer.get("detail") if status >= 400 and isinstance(answer.get("detail"), str) else None,
        client=client[0] if client else None)


# ---------- wiring ----------
async def _auth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    headers = {"WWW-Authenticate": 'Bearer realm="gwf"'} if exc.status == 401 else None
    return JSONResponse({"detail": str(exc).replace("\n", "\\n"), "field": exc.field}, status_code=exc.status, headers=headers)


def install(app: FastAPI, settings: ServiceSettings) -> None:
    """Tokens, roles, Host/Origin checks, CSP and audit on `app`; call after every route is added.
    Raises ValueError (one line for the CLI) when the server would listen beyond loopback
    with nobody able to sign in."""
    from gwf.service.auth_routes import router

    store = app.state.service.auth  # the service's database: shared by every server on it
    check_exposure(settings.host, store)
    app.state.auth = Authenticator(store, loopback=is_loopback(settings.host), require_tokens=settings.require_tokens)
    app.state.audit = store
    app.include_router(router)
    app.add_exception_handler(AuthError, _auth_error)
    check_rules(app)
    app.add_middleware(Door, hosts=allowed_hosts(settings))
    app.add_middleware(Audit, log=store)  # outermost: refusals at the door are audited too
