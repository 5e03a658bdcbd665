"""The interactive documentation, served whole by the service itself, and the parts of the
OpenAPI document that depend on the running instance: the key scheme and the limits set by
its settings.

Swagger UI and ReDoc come from the pinned fastapi-offline package, so `/docs` works where
no CDN can be reached and loads nothing from another origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from filewallball.settings import Settings

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSET_PREFIX = "/docs/assets/"
# Each asset by its exact path, so that the access guard can open them by name.
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
ASSET_PATHS = frozenset(ASSET_PREFIX + name for name in ASSET_TYPES)
# The pages that get the docs' own Content-Security-Policy (headers.py).
DOCS_PAGES = frozenset({"/docs", "/redoc"})

SECURITY_SCHEME = "bearer"
# A marker in a schema whose maximum is a setting: replaced by the setting's value.
MAXIMUM_SETTING = "x-maximum-setting"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="FileWallBall API",
        swagger_js_url=ASSET_PREFIX + "swagger-ui-bundle.js",
        swagger_css_url=ASSET_PREFIX + "swagger-ui.css",
        swagger_favicon_url=ASSET_PREFIX + "favicon.png",
        # The key stays in the browser across reloads, as a user of "Authorize" expects.
        swagger_ui_parameters={"persistAuthorization": True},
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="FileWallBall API",
        redoc_js_url=ASSET_PREFIX + "redoc.standalone.js",
        redoc_favicon_url=ASSET_PREFIX + "favicon.png",
        with_google_fonts=False,
    )


def _asset_route(name: str, media_type: str) -> None:
    async def asset() -> FileResponse:
        return FileResponse(
            ASSETS / name,
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=86400"},
        )

    router.add_api_route(ASSET_PREFIX + name, asset, methods=["GET"], name=f"docs_{name}")


for _name, _type in ASSET_TYPES.items():
    _asset_route(_name, _type)


def _operation_security(path: str, settings: Settings) -> list[dict[str, list[str]]] | None:
    """Who may call the path: an admin key, any key, or anyone (a key optional)."""
    if path.startswith(("/health", "/metrics")):
        return None
    required: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}]
    if path.startswith("/admin") or (path == "/stats" and not settings.public_stats):
        return required
    return required if settings.anonymous_role == "none" else [*required, {}]


def _settle_maxima(node: Any, settings: Settings) -> None:
    if isinstance(node, dict):
        setting = node.pop(MAXIMUM_SETTING, None)
        if setting is not None:
            node["maximum"] = getattr(settings, setting)
        for value in node.values():
            _settle_maxima(value, settings)
    elif isinstance(node, list):
        for value in node:
            _settle_maxima(value, settings)


def document_instance(app: FastAPI, settings: Settings) -> None:
    """Complete the OpenAPI document with the key scheme and the instance's own limits."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        spec.setdefault("components", {})["securitySchemes"] = {
            SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "fwb_<key id>_<secret>",
                "description": "An API key (`filewallball keys create`, or POST /admin/keys), "
                "sent as `Authorization: Bearer fwb_…`.",
            }
        }
        for path, operations in spec.get("paths", {}).items():
            security = _operation_security(path, settings)
            if security is not None:
                for operation in operations.values():
                    operation["security"] = security
        _settle_maxima(spec, settings)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
