"""The pages people use: share files (/), a file's share page (/s/{id}), browsing (/browse),
and their static assets. None of them is part of the API or its schema."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from filewallball.deps import ActorDep, BaseUrlDep, ClientDep, StateDep
from filewallball.errors import Gone, NotFound
from filewallball.files import service as files_service
from filewallball.web import qr, share
from filewallball.web.assets import FOREVER, REVALIDATE, catalogue
from filewallball.web.pages import render

router = APIRouter(include_in_schema=False)

MiB = 1024 * 1024
# Above this size a file goes through the resumable protocol, in chunks of CHUNK bytes: a
# dropped connection then costs at most one chunk.
RESUMABLE_FROM = 4 * MiB
CHUNK = 2 * MiB
# The QR code draws the share link, made from FWB_BASE_URL or, when that is unset, from the
# request's Host: one URL draws a different link under each name the service answers to, so
# caches must key on the Host, and an operator who sets or changes FWB_BASE_URL sees new codes
# within a day. Never immutable.
QR_CACHING = {"Cache-Control": "public, max-age=86400", "Vary": "Host"}
# What the expiry choice offers, in seconds; those beyond FWB_MAX_EXPIRES_IN are left out.
EXPIRY_CHOICES = (
    ("upload.expiry_hour", 3600),
    ("upload.expiry_day", 86_400),
    ("upload.expiry_week", 7 * 86_400),
    ("upload.expiry_month", 30 * 86_400),
)


@router.get("/", response_class=HTMLResponse)
async def upload_page(request: Request, state: StateDep) -> HTMLResponse:
    settings = state.settings
    return render(
        request,
        "upload.html",
        max_file_size=settings.max_file_size,
        anonymous_uploads=settings.anonymous_role == "uploader",
        expiry_choices=[c for c in EXPIRY_CHOICES if c[1] <= settings.max_expires_in],
        resumable_from=RESUMABLE_FROM,
        chunk=CHUNK,
    )


@router.get("/browse", response_class=HTMLResponse)
async def browse_page(request: Request) -> HTMLResponse:
    return render(request, "browse.html")


@router.get("/s/{file_id}", response_class=HTMLResponse)
async def share_page(
    file_id: str,
    request: Request,
    state: StateDep,
    actor: ActorDep,
    client: ClientDep,
    base: BaseUrlDep,
) -> HTMLResponse:
    if actor.role is None:
        # Where anonymous visitors may read nothing, a page shows nothing either: a page load
        # carries no key, and the API would answer 401 to the same visitor.
        return render(request, "missing.html", 401, reason="closed")
    try:
        shared = await share.shared_file(state, file_id, actor, client)
    except NotFound:
        # The same answer for unknown, deleted and another's private file, as the API gives.
        return render(request, "missing.html", 404, reason="missing")
    except Gone:
        return render(request, "missing.html", 410, reason="gone")
    stored = shared.file
    return render(
        request,
        "share.html",
        shared=shared,
        file=stored,
        links=files_service.links(base, stored.file_id),
    )


@router.get("/s/{file_id}/qr.svg")
async def share_qr(file_id: str, base: BaseUrlDep) -> Response:
    """Only the link, drawn: it tells nothing of the file, so it needs no look-up."""
    share_url = files_service.links(base, files_service.canonical_id(file_id)).share_url
    return Response(qr.svg(share_url), media_type="image/svg+xml", headers=QR_CACHING)


@router.get("/static/{version}/{name:path}")
async def static_asset(version: str, name: str, request: Request) -> Response:
    assets = catalogue()
    asset = assets.assets.get(name)
    if asset is None:
        raise NotFound("No such file.")
    # An old version's URL gets today's file, to revalidate: never cached as immutable.
    caching = FOREVER if version == assets.version else REVALIDATE
    headers = {"ETag": asset.etag, "Cache-Control": caching}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
