"""The pages' stylesheets, scripts and vendored bundle, served from memory.

Every asset's URL carries one version, the hash of all of them together: the scripts import
each other by relative paths, so they must change address together. A versioned URL never
changes content and is cached for a year; any other answer is revalidated by its ETag."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"
FOREVER = "public, max-age=31536000, immutable"
REVALIDATE = "public, no-cache"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    version: str
    assets: dict[str, Asset]

    def url(self, name: str) -> str:
        if name not in self.assets:
            raise KeyError(f"no static asset named {name}")
        return f"/static/{self.version}/{name}"


@cache
def catalogue() -> Catalogue:
    """Read once, on the first page served: a few tens of kilobytes."""
    assets: dict[str, Asset] = {}
    whole = hashlib.sha256()
    for path in sorted(p for p in STATIC.rglob("*") if p.is_file()):
        name = path.relative_to(STATIC).as_posix()
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        whole.update(f"{name}\0{digest}\0".encode())
        media_type = TYPES.get(path.suffix) or mimetypes.guess_type(name)[0]
        assets[name] = Asset(body, media_type or "application/octet-stream", f'"{digest[:32]}"')
    return Catalogue(whole.hexdigest()[:12], assets)
