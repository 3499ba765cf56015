"""Builds the FastAPI app: routes, the dashboard's static files, and the error answers that
turn every bad input into one line naming the field (422), unknown ids into 404, a full job
queue into 429 with Retry-After; and the door (`guard`) in front of them all."""
from __future__ import annotations

import logging
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic_core import PydanticSerializationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gwf.service import auth_http
from gwf.service.guard import ClientBudget, Guard
from gwf.service.jobs import QueueFull
from gwf.service.routes import router
from gwf.service.settings import ServiceSettings
from gwf.service.state import Service
from gwf.service.store import DamagedPlan
from plant.loader import describe_validation_error, format_loc

log = logging.getLogger("gwf.service")
STATIC = Path(__file__).resolve().parent.parent / "static"
# FastAPI's 400 for a body it cannot decode; we answer it like every other bad body.
_FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"
_LEADING_PATH = re.compile(r"^([A-Za-z_][\w.\[\]-]*): ")


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    service = Service.start(settings or ServiceSettings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.stop()

    app = FastAPI(
        title="gwfactory",
        summary="Plan, prove and drive a floor that adds 1 GW of AI data-center capacity a week.",
        lifespan=lifespan,
        docs_url=None if _SWAGGER_ASSETS else "/docs",
    )
    app.state.service = service
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if _SWAGGER_ASSETS:
        _offline_docs(app, _SWAGGER_ASSETS)

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(ValueError, _bad_input)
    app.add_exception_handler(QueueFull, _queue_full)
    app.add_exception_handler(DamagedPlan, _damaged)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    settings = service.settings
    app.add_middleware(Guard, max_body=settings.max_body_bytes, budget=ClientBudget(settings.client_rate, settings.client_burst),
                       yaml_paths={"/api/spec/validate"})
    auth_http.install(app, settings)  # last: it checks every route has an access rule; its door and audit wrap the guard
    return app


def _swagger_assets() -> Path | None:
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    return Path(swagger_ui_bundle.swagger_ui_path)


_SWAGGER_ASSETS = _swagger_assets()


def _offline_docs(app: FastAPI, assets: Path) -> None:
    """Swagger UI from the installed bundle: FastAPI's default page loads it from a CDN, which
    a factory network cannot reach."""
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="gwfactory API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")
        return auth_http.html_page(page.body.decode(), inline_scripts=1)  # Swagger UI's start-up script, hashed


def problem(status: int, detail: str, field: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    # Field names and values quoted from the request may hold newlines; the answer stays one line.
    detail = detail.replace("\r", "\\r").replace("\n", "\\n")
    if field is None:
        match = _LEADING_PATH.match(detail)
        field = match.group(1) if match else None
    return JSONResponse({"detail": detail, "field": field}, status_code=status, headers=headers)


async def _bad_input(request: Request, exc: Exception) -> JSONResponse:
    # SpecError and every other ValueError from outside data: the CLI's one-line message.
    if isinstance(exc, PydanticSerializationError):  # a ValueError too, but ours to fix, not the caller's
        log.error("cannot serialise the answer to %s: %s", request.url.path, exc)
        return problem(500, f"internal error: the answer could not be written ({exc.__class__.__name__})")
    text = str(exc)
    return problem(422, text.splitlines()[0] if text else exc.__class__.__name__)


async def _queue_full(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QueueFull)
    return problem(429, str(exc), headers={"Retry-After": str(exc.retry_after)})


async def _damaged(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s", exc)
    return problem(500, str(exc), "schedule_id")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_PARSE_ERROR:
        return problem(422, "body: not valid JSON (the bytes are not UTF-8 text)", "body")
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        # Starlette names only the methods of the first route on the path; list every one.
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem(exc.status_code, str(exc.detail), headers=headers or None)


def _allowed_methods(request: Request) -> list[str]:
    path = request.scope["path"]
    return sorted({method for route in _leaf_routes(request.app.router.routes) if route.path_regex.match(path)
                   for method in getattr(route, "methods", None) or ()})


def _leaf_routes(routes: Any) -> Any:
    """Every route with a path, also those of included routers (FastAPI wraps them)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        elif hasattr(route, "path_regex"):
            yield route


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    """pydantic's errors about a request, in the same `field.path: message` form as spec errors;
    paths inside the body drop the leading `body`."""
    assert isinstance(exc, RequestValidationError)
    errors = [dict(e) for e in exc.errors()]
    first = errors[0]
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "JSON decode error")
        return problem(422, f"body: not valid JSON at character {first['loc'][-1]} ({reason})", "body")
    in_body = bool(first["loc"]) and first["loc"][0] == "body"
    if tuple(first["loc"]) == ("body",) and first.get("type") == "missing":
        return problem(422, "body: required; send a JSON object", "body")
    for error in errors:
        if error["loc"] and error["loc"][0] == "body":
            error["loc"] = tuple(error["loc"][1:])
    detail = describe_validation_error(_Errors(errors), root=_body_model(request) if in_body else None)  # type: ignore[arg-type]
    return problem(422, detail, format_loc(first["loc"]) or ("body" if in_body else None))


class _Errors:
    """Gives request errors the `.errors()` face of a pydantic ValidationError, so the spec
    loader's formatter describes both."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self._errors = errors

    def errors(self, include_url: bool = False) -> list[dict[str, Any]]:
        return self._errors


def _body_model(request: Request) -> Any:
    route = request.scope.get("route")
    params = getattr(getattr(route, "dependant", None), "body_params", [])
    return params[0].field_info.annotation if len(params) == 1 else None
