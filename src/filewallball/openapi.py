"""The OpenAPI document's instance-dependent parts, and where the document is shown.

`document_instance` completes the document with the key scheme and the limits set by the
instance's settings. The paths of the docs pages and their assets are named here, beside the
document they show, so that the access guard can open them and the security headers can give
the pages their own policy without reaching into the router that serves them (docs.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from filewallball.settings import Settings

# The pages that get the docs' own Content-Security-Policy (headers.py).
DOCS_PAGES = frozenset({"/docs", "/redoc"})
ASSET_PREFIX = "/docs/assets/"
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# Each asset by its exact path, so that the access guard can open them by name.
ASSET_PATHS = frozenset(ASSET_PREFIX + name for name in ASSET_TYPES)

SECURITY_SCHEME = "bearer"
# A marker in a schema whose maximum is a setting: replaced by the setting's value.
MAXIMUM_SETTING = "x-maximum-setting"


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
