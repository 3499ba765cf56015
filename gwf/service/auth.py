"""Who may do what: roles in order, API tokens (random, shown once, kept only as a SHA-256),
and the one decision every request goes through. No HTTP here: `auth_http` turns these
answers into 401/403 and OpenAPI security declarations.

Local-development mode: a server that listens on loopback only and whose database (shared
by every server and `gwf token` on it) has never held a token treats every request as the local administrator, so `gwf serve`
on a laptop works without ceremony. The first `gwf token create` ends that mode for good
(revoking every token later locks the server; it never reopens it). A server that listens
beyond loopback refuses to start without a token."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

# `gwf_` makes a leaked token easy to spot in logs and secret scanners; the id lets the server
# find the row without comparing the secret against every stored hash.
TOKEN_PREFIX = "gwf_"
_TOUCH_EVERY_S = 60.0
_SECRET_BYTES = 32  # 256 bits: a plain SHA-256 of it cannot be brute-forced, so no slow KDF is needed


class Role(str, Enum):
    """Each role may do everything the roles before it may."""

    viewer = "viewer"      # read plans, jobs, twin results, the live feed
    planner = "planner"    # + plan, run the twin, validate specs (repair, when it is a route)
    operator = "operator"  # + dispatch to the cells, cancel jobs
    admin = "admin"        # + tokens and the audit log

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: "Role") -> bool:
        return self.rank >= needed.rank


class AuthError(ValueError):
    """Base of the two refusals; `field` is what the answer names."""

    status = 401
    field = "authorization"


class Unauthenticated(AuthError):
    """No identity: no token where one is needed, or an unknown or revoked token (401)."""


class Forbidden(AuthError):
    """A known identity whose role is below what the route needs (403)."""

    status = 403
    field = "role"


@dataclass(frozen=True)
class Identity:
    name: str
    role: Role
    token_id: str | None  # None: the local-development administrator

    def to_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "role": self.role.value, "token_id": self.token_id}


LOCAL_ADMIN = Identity("local", Role.admin, None)


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    role: Role
    digest: str
    created: str
    revoked: str | None = None
    last_used: str | None = None

    def public(self) -> dict[str, str | None]:
        """What may be shown: never the digest."""
        return {"id": self.id, "name": self.name, "role": self.role.value, "created": self.created,
                "revoked": self.revoked, "last_used": self.last_used}


class TokenStore(Protocol):
    """Where tokens live: the service's database (auth_store.DatabaseAuthStore)."""

    def add(self, record: TokenRecord) -> None: ...
    def get(self, token_id: str) -> TokenRecord | None: ...
    def all(self) -> list[TokenRecord]: ...
    def revoke(self, token_id: str, at: str) -> TokenRecord | None: ...
    def touch(self, token_id: str, at: str) -> None: ...
    def ever_issued(self) -> bool: ...
    def active(self) -> int: ...


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(name: str, role: Role, created: str) -> tuple[TokenRecord, str]:
    """A fresh token: the record to store and the secret to show once."""
    token_id = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    return TokenRecord(token_id, name, role, digest(secret), created), secret


def check_name(name: str) -> str:
    """Token names appear in the audit log and the dashboard: short, printable, one line."""
    name = name.strip()
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise ValueError("name: 1 to 64 printable characters (a person or a machine, e.g. 'line-2-planner')")
    return name


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise ValueError(f"role: {text!r} is not a role; valid: {', '.join(r.value for r in Role)}") from None


def is_loopback(host: str) -> bool:
    """True when `host` (an address to listen on) reaches this machine only."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


class Authenticator:
    """Turns a request's bearer token (or its absence) into an Identity, and checks roles."""

    def __init__(self, tokens: TokenStore, *, loopback: bool, require_tokens: bool) -> None:
        self.tokens = tokens
        self.loopback = loopback
        self.require_tokens = require_tokens
        self._touched: dict[str, float] = {}  # token id -> monotonic time its last use was written

    def local_mode(self) -> bool:
        """Every request is the local administrator: loopback only, and no token ever issued."""
        return self.loopback and not self.require_tokens and not self.tokens.ever_issued()

    def describe(self) -> str:
        """One line for the operator starting the server: who will be let in."""
        if self.local_mode():
            return ("access: local-development mode: no token was ever issued, so every request from this machine is the "
                    "administrator; `gwf token create --role admin --name NAME` ends it")
        return f"access: tokens required ({self.tokens.active()} active); `gwf token list` shows them"

    def identify(self, token: str | None, *, proxied: bool = False, now: str = "") -> Identity:
        if token:
            return self._verify(token, now)
        if self.local_mode() and not proxied:
            return LOCAL_ADMIN
        if self.local_mode():
            # A reverse proxy on this machine would turn the whole network into "local".
            raise Unauthenticated("authorization: this request came through a proxy and the server has no tokens; "
                                  "create one with `gwf token create --role admin --name NAME`")
        raise Unauthenticated("authorization: send 'Authorization: Bearer <token>'; an admin creates tokens with `gwf token create`")

    def _verify(self, token: str, now: str) -> Identity:
        token_id = token[len(TOKEN_PREFIX):].split("_", 1)[0] if token.startswith(TOKEN_PREFIX) else ""
        record = self.tokens.get(token_id) if token_id else None
        # Compare digests in constant time, and do the same work for an unknown id.
        expected = record.digest if record is not None else digest("")
        if not hmac.compare_digest(expected, digest(token)) or record is None:
            raise Unauthenticated("authorization: unknown token")
        if record.revoked is not None:
            raise Unauthenticated(f"authorization: token {record.id} ({record.name}) was revoked at {record.revoked}")
        # "Last used" to the minute: a write per request would make every read a database write.
        if now and time.monotonic() - self._touched.get(record.id, -_TOUCH_EVERY_S) >= _TOUCH_EVERY_S:
            self._touched[record.id] = time.monotonic()
            self.tokens.touch(record.id, now)
        return Identity(record.name, record.role, record.id)

    @staticmethod
    def check(identity: Identity, needed: Role, action: str) -> None:
        if not identity.role.allows(needed):
            raise Forbidden(f"role: {identity.name} is a {identity.role.value}; {action} needs {needed.value} or higher")


def check_exposure(host: str, tokens: TokenStore) -> None:
    """Refuse to listen beyond loopback while nobody could sign in (no active token)."""
    if is_loopback(host) or tokens.active() > 0:
        return
    raise ValueError(f"host: refusing to listen on {host} without authentication; create a token first "
                     "(`gwf token create --role admin --name NAME`) or listen on 127.0.0.1")
