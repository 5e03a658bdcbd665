"""The interactive documentation, served whole by the service itself: Swagger UI at /docs and
ReDoc at /redoc, both reading /openapi.json (completed by openapi.py).

Swagger UI and ReDoc come from the pinned fastapi-offline package, so `/docs` works where
no CDN can be reached and loads nothing from another origin.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from filewallball.openapi import ASSET_PREFIX, ASSET_TYPES

ASSETS = Path(fastapi_offline.__file__).parent / "static"

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
