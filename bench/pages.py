"""How fast the web pages appear: Chromium opens each page with an empty cache, and its first
contentful paint is compared with that of the same bytes (the page's HTML, styles and
scripts) served as files by nginx, in the same run. A ratio near 1 means the server adds
little to what the browser itself takes; the absolute times are printed too.

Needs /usr/bin/chromium and nginx; run it alone on the machine."""

from __future__ import annotations

import re
import statistics
import tempfile
from pathlib import Path

import httpx
from _live import live_server
from _tools import nginx
from playwright.sync_api import Browser, sync_playwright

ROUNDS = 15
PAINT = """() => {
    const paint = performance.getEntriesByName("first-contentful-paint")[0];
    const nav = performance.getEntriesByType("navigation")[0];
    return [paint ? paint.startTime : NaN, nav.domContentLoadedEventEnd];
}"""
SAME_ORIGIN = re.compile(r'(?:src|href)="(/static/[^"]+)"')


def first_paint_ms(browser: Browser, url: str) -> tuple[float, float]:
    """Median first contentful paint and DOMContentLoaded, each round with an empty cache."""
    paints, loaded = [], []
    for _ in range(ROUNDS):
        context = browser.new_context()
        page = context.new_page()
        page.goto(url, wait_until="load")
        paint, ready = page.evaluate(PAINT)
        paints.append(paint)
        loaded.append(ready)
        context.close()
    return statistics.median(paints), statistics.median(loaded)


def snapshot(url: str, pages: dict[str, str], into: Path) -> None:
    """Each page's HTML as <name>.html, with every static file it names at its own path."""
    with httpx.Client(base_url=url) as http:
        for name, path in pages.items():
            html = http.get(path).text
            (into / f"{name}.html").write_text(html)
            for asset in SAME_ORIGIN.findall(html):
                target = into / asset.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(http.get(asset).content)
        # The modules the entry scripts import, found the same way in the scripts themselves.
        for script in list(into.rglob("*.js")):
            for module in re.findall(r'from\s*"\./([^"]+)"', script.read_text()):
                target = script.parent / module
                if not target.exists():
                    relative = target.relative_to(into).as_posix()
                    target.write_bytes(http.get(f"/{relative}").content)


def main() -> None:
    with live_server() as url, tempfile.TemporaryDirectory(prefix="fwb-pages-") as scratch:
        shared = httpx.post(f"{url}/upload", files={"file": ("notes.txt", b"hello\n" * 200)})
        pages = {"share": "/", "browse": "/browse", "file": f"/s/{shared.json()['file_id']}"}
        tree = Path(scratch)
        snapshot(url, pages, tree)
        with sync_playwright() as playwright, nginx([], tree=tree) as reference:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            print(
                "| page | first paint (ours) | same bytes from nginx | ratio | DOM ready (ours) |"
            )
            print("|---|---|---|---|---|")
            for name, path in pages.items():
                ours, ready = first_paint_ms(browser, f"{url}{path}")
                theirs, _ = first_paint_ms(browser, f"{reference}/{name}.html")
                print(
                    f"| `{path}` | {ours:.0f} ms | {theirs:.0f} ms | {theirs / ours:.2f} | "
                    f"{ready:.0f} ms |"
                )
            browser.close()


if __name__ == "__main__":
    main()
