"""QR codes of share links, drawn on the server as SVG: no script needed to show one."""

from __future__ import annotations

import io

import segno


def svg(url: str) -> bytes:
    """Dark modules on white with the standard quiet zone, readable in either theme."""
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=6, border=4, dark="#000", light="#fff", xmldecl=False)
    return out.getvalue()
