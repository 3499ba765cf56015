"""The door of the service, as plain ASGI: bodies over the size limit are refused while they
arrive (413, never buffered whole), state-changing requests must say they carry JSON (or YAML
where a route accepts it) so a cross-site form post (`text/plain`) is refused (415), and each
client (API token, else address) has a budget of state-changing requests (429)."""
from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from typing import Any, Awaitable, Callable, Iterable

from starlette.exceptions import HTTPException

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

JSON_TYPES = frozenset({"application/json"})
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ADDRESS_SHARE = 4  # one address may spend this many clients' budgets


class BodyTooLarge(HTTPException):
    """Raised from inside `receive`: FastAPI re-raises HTTPExceptions met while reading a body,
    so the app's error handler answers it like any other 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body: larger than {limit} bytes; send a smaller request")


class ClientBudget:
    """A token bucket per client: `rate` requests a second, up to `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > 10_000:  # forget idle clients rather than grow without end
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self.burst / self.rate}
            return (1.0 - tokens) / self.rate


def client_key(headers: dict[bytes, bytes], scope: Scope) -> str:
    """Who is asking: the bearer token when there is one (hashed: never keep secrets), else the address."""
    auth = headers.get(b"authorization", b"")
    if auth[:7].lower() == b"bearer ":
        return "token:" + hashlib.sha256(auth[7:].strip()).hexdigest()[:16]
    return address_key(scope)


def address_key(scope: Scope) -> str:
    client = scope.get("client")
    return f"addr:{client[0] if client else '?'}"


class Guard:
    def __init__(self, app: ASGIApp, *, max_body: int, budget: ClientBudget, yaml_paths: Iterable[str] = ()) -> None:
        self.app, self.max_body, self.budget = app, max_body, budget
        self.address_budget = ClientBudget(budget.rate * ADDRESS_SHARE, budget.burst * ADDRESS_SHARE)
        self.yaml_paths = frozenset(yaml_paths)

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _answer(send, 413, f"body: larger than {self.max_body} bytes; send a smaller request", "body")
        path, method = scope["path"], scope["method"]
        if method in _WRITES and path.startswith("/api/"):
            refused = self._refuse_type(headers, path, length)
            if refused is not None:
                return await _answer(send, 415, refused, "content-type")
            # The token's own budget, and its address's (a few times larger: several people may share
            # one address), so a client cannot escape its budget by sending made-up tokens.
            wait = max(self.budget.take(client_key(headers, scope)), self.address_budget.take(address_key(scope)))
            if wait > 0:
                return await _answer(send, 429, f"too many requests from this client; retry in {math.ceil(wait)} s", None,
                                     retry_after=math.ceil(wait))
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        await self.app(scope, limited, send)

    def _refuse_type(self, headers: dict[bytes, bytes], path: str, length: bytes | None) -> str | None:
        has_body = (length is not None and length != b"0") or b"transfer-encoding" in headers
        raw = headers.get(b"content-type")
        if raw is None:
            return None if not has_body else "content-type: required with a body; send application/json"
        media = raw.decode("latin-1").split(";")[0].strip().lower()
        accepted = JSON_TYPES | YAML_TYPES if path in self.yaml_paths else JSON_TYPES
        if media in accepted:
            return None
        return f"content-type: {media or 'empty'} is not accepted here; send {' or '.join(sorted(accepted))}"


async def _answer(send: Callable[[Message], Awaitable[None]], status: int, detail: str, field: str | None, retry_after: int | None = None) -> None:
    body = json.dumps({"detail": detail, "field": field}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
