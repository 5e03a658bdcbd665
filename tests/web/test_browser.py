"""The pages in Chromium, as a person uses them: drop or pick files, watch them upload, share
the link, open it, download; pause a large upload and carry on after the page was closed;
read refusals in words; delete and tag from the file list; switch language and theme; and no
serious accessibility fault on any page."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import issue_key
from tests.test_server import LiveServer, MiB
from tests.web.conftest import MAX_FILE_SIZE, NewContext, until

pytestmark = [
    pytest.mark.server,
    # What the pages do does not depend on the database: one backend is enough.
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]


def drop(page: Page, files: dict[str, bytes]) -> None:
    """Drops files on the drop zone, as a file manager would: a DataTransfer made in the page."""
    encoded = {name: base64.b64encode(data).decode() for name, data in files.items()}
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, data] of Object.entries(files)) {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, { type: "text/plain" }));
            }
            return transfer;
        }""",
        encoded,
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


def row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(
        ".upload", has=page.locator(".name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def record_statuses(page: Page) -> None:
    """Keeps every status line the uploads show, to look at the progress afterwards."""
    page.evaluate(
        """() => {
            window.statuses = [];
            const keep = () => {
                for (const s of document.querySelectorAll(".upload .status")) {
                    statuses.push(s.textContent);
                }
            };
            const everything = { subtree: true, childList: true, characterData: true };
            new MutationObserver(keep).observe(document.getElementById("uploads"), everything);
        }"""
    )


def test_dropped_and_picked_files_upload_and_their_links_download_the_same_bytes(
    site: LiveServer, page: Page, tmp_path: Path
) -> None:
    dropped = {"notes.txt": b"first line\n<b>not bold</b>\n", "list.txt": b"a\nb\nc\n"}
    picked = [tmp_path / "photo-1.bin", tmp_path / "report.bin"]
    for path in picked:
        path.write_bytes(os.urandom(3 * MiB))
    page.goto(f"{site.url}/")
    record_statuses(page)

    drop(page, dropped)
    page.set_input_files("#picker", [str(path) for path in picked])

    for name in [*dropped, *(path.name for path in picked)]:
        expect(row(page, name)).to_have_class(re.compile("finished"), timeout=20_000)
        assert row(page, name).locator("progress").evaluate("bar => bar.value") == 100
    statuses = page.evaluate("statuses")
    assert any(re.search(r"of 3\.0 MiB · 100% · .+/s", status) for status in statuses), statuses

    link = row(page, "notes.txt").locator(".link").input_value()
    assert re.fullmatch(rf"{site.url}/s/[0-9a-f-]{{36}}", link)
    qr = row(page, "notes.txt").locator("img.qr")
    until(lambda: qr.evaluate("img => img.complete && img.naturalWidth > 0"))

    page.goto(link)
    expect(page.locator("h1")).to_have_text("notes.txt")
    # The text is shown as text: the markup in it is not markup here.
    expect(page.locator(".text-preview")).to_have_text(dropped["notes.txt"].decode())
    assert page.locator(".preview b").count() == 0
    with page.expect_download() as download:
        page.click("a.download")
    assert Path(download.value.path()).read_bytes() == dropped["notes.txt"]

    page.goto(row_link(site, picked[1].name))
    with page.expect_download() as download:
        page.click("a.download")
    assert Path(download.value.path()).read_bytes() == picked[1].read_bytes()


def speed_of(status: str) -> float:
    """Bytes a second, from a progress line: "… · 3.1 MiB/s"."""
    found = re.search(r"· ([\d.]+) (bytes|KiB|MiB|GiB|TiB)/s$", status)
    assert found, status
    units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
    return float(found[1]) * 1024 ** units.index(found[2])


def row_link(site: LiveServer, name: str) -> str:
    """The share link of the file the API lists under `name`."""
    listed = httpx.get(f"{site.url}/files", params={"q": name}).json()["items"]
    return str(listed[0]["share_url"])


def test_a_large_upload_paused_then_cut_off_resumes_where_it_stopped(
    site: LiveServer, page: Page, tmp_path: Path
) -> None:
    source = tmp_path / "video.bin"
    source.write_bytes(os.urandom(10 * MiB))  # above the resumable threshold: sent with tus
    offsets: list[tuple[str, int]] = []
    page.on(
        "request",
        lambda r: (
            offsets.append((r.method, int(r.headers["upload-offset"])))
            if r.method == "PATCH" and "/uploads/" in r.url
            else None
        ),
    )
    # Slow enough to stop halfway: 4 MiB/s.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 4 * MiB},
    )
    page.goto(f"{site.url}/")
    page.set_input_files("#picker", str(source))
    bar = page.locator(".upload progress")

    until(lambda: bar.evaluate("bar => bar.value") >= 25)
    page.click(".upload .pause")
    expect(page.locator(".upload .status")).to_contain_text("Paused at")
    paused_at = len(offsets)
    page.click(".upload .pause")  # now "Resume"
    until(lambda: bar.evaluate("bar => bar.value") >= 60)
    assert offsets[paused_at][1] > 0  # resumed, not begun again

    # The tab goes away mid-chunk; picking the same file later carries on from the server's offset.
    page.reload()
    record_statuses(page)
    before_reload = len(offsets)
    page.set_input_files("#picker", str(source))
    expect(page.locator(".upload")).to_have_class(re.compile("finished"), timeout=30_000)
    statuses = page.evaluate("statuses")
    # The offset the server had (a request of the closed tab may still be counted after the
    # reload, so the page's own words say where it resumed), and a chunk sent from there.
    resumed = [float(m[1]) for s in statuses if (m := re.fullmatch(r"Resuming from (.+) MiB", s))]
    assert resumed and 5 <= resumed[0] < 10, statuses
    assert any(abs(offset / MiB - resumed[0]) < 0.05 for _, offset in offsets[before_reload:])
    # The speed counts only what this page sent, not what the server already had.
    speeds = [speed_of(status) for status in statuses if status.endswith("/s")]
    assert speeds and max(speeds) < 4 * 4 * MiB, statuses

    share = page.locator(".upload .link").input_value()
    file_id = share.rsplit("/", 1)[-1]
    downloaded = httpx.get(f"{site.url}/download/{file_id}").content
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(source.read_bytes()).digest()


def test_paused_uploads_give_up_their_turn_to_files_dropped_after_them(
    site: LiveServer, page: Page, tmp_path: Path
) -> None:
    large = [tmp_path / f"part-{n}.bin" for n in range(3)]  # as many as upload at once
    for path in large:
        path.write_bytes(os.urandom(6 * MiB))  # above the resumable threshold: sent with tus
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2 * MiB},
    )
    page.goto(f"{site.url}/")
    page.set_input_files("#picker", [str(path) for path in large])
    for path in large:
        pause = row(page, path.name).locator(".pause")
        pause.click()
        expect(pause).to_have_text("Resume")
        expect(row(page, path.name).locator(".status")).to_contain_text("Paused at")

    drop(page, {"later.txt": b"dropped while the others are paused"})
    expect(row(page, "later.txt")).to_have_class(re.compile("finished"), timeout=20_000)

    # A resumed upload takes a turn again and finishes.
    row(page, large[0].name).locator(".pause").click()
    expect(row(page, large[0].name)).to_have_class(re.compile("finished"), timeout=30_000)
    for path in large[1:]:
        expect(row(page, path.name).locator(".status")).to_contain_text("Paused at")


def test_a_large_upload_where_the_browser_keeps_no_data_fails_and_frees_its_turn(
    site: LiveServer, page: Page, tmp_path: Path
) -> None:
    # Site data blocked after the page loaded: reading the storage throws.
    page.add_init_script(
        """Object.defineProperty(Storage.prototype, "length", {
            get() { throw new DOMException("The operation is insecure.", "SecurityError"); },
        });"""
    )
    large = [tmp_path / f"big-{n}.bin" for n in range(3)]  # as many as upload at once
    for path in large:
        path.write_bytes(b"\0" * (5 * MiB))
    page.goto(f"{site.url}/")
    page.set_input_files("#picker", [str(path) for path in large])
    for path in large:
        expect(row(page, path.name).locator(".error")).to_contain_text("site data is blocked")
        expect(row(page, path.name).locator(".cancel")).to_be_hidden()

    drop(page, {"small.txt": b"still goes"})
    expect(row(page, "small.txt")).to_have_class(re.compile("finished"), timeout=20_000)


def test_refused_files_say_why_in_words_beside_them(
    site: LiveServer, new_context: NewContext, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.bin"
    huge.write_bytes(b"\0" * (MAX_FILE_SIZE + 1))
    program = tmp_path / "setup.exe"
    program.write_bytes(b"MZ\x90\x00" + os.urandom(2048))
    page = new_context().new_page()
    page.goto(f"{site.url}/")

    page.set_input_files("#picker", [str(huge), str(program)])

    expect(row(page, "huge.bin").locator(".error")).to_have_text(
        "The file is too large: the limit is 12.0 MiB."
    )
    refusal = row(page, "setup.exe").locator(".error")
    expect(refusal).to_contain_text("This type of file is not accepted.")
    assert len(refusal.inner_text()) > len("This type of file is not accepted.")  # the detail

    korean = new_context(locale="ko-KR").new_page()
    korean.goto(f"{site.url}/")
    korean.set_input_files("#picker", [str(huge), str(program)])
    expect(row(korean, "huge.bin").locator(".error")).to_have_text(
        "파일이 너무 큽니다. 최대 12.0 MiB까지 올릴 수 있습니다."
    )
    expect(row(korean, "setup.exe").locator(".error")).to_contain_text(
        "이 형식의 파일은 받지 않습니다."
    )


def test_with_a_key_a_visitor_tags_and_deletes_files_from_the_list(
    site: LiveServer, page: Page, tmp_path: Path
) -> None:
    key = issue_key(site.settings.database_url, "uploader", name="browser")
    page.goto(f"{site.url}/")
    page.click("#key-panel summary")
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-state")).to_have_text("A key is saved in this browser.")
    page.click(".options summary")
    page.check("#private")
    drop(page, {"mine.txt": b"only mine", "also-mine.txt": b"mine too"})
    expect(page.locator(".upload.finished")).to_have_count(2, timeout=20_000)
    mine = row(page, "mine.txt").locator(".link").input_value().rsplit("/", 1)[-1]
    # Private: its page opens for nobody (a page load carries no key), so the row offers no
    # way there and says where the file can be found instead.
    assert httpx.get(f"{site.url}/s/{mine}").status_code == 404
    expect(row(page, "mine.txt").locator(".open")).to_be_hidden()
    expect(row(page, "mine.txt").locator(".qr")).to_be_hidden()
    expect(row(page, "mine.txt").locator(".private-note")).to_be_visible()
    expect(row(page, "mine.txt").locator(".private-note")).to_have_text(
        "This file is private, so it has no page to share. Find it in Browse files with your "
        "key saved, or download it with your key."
    )

    page.goto(f"{site.url}/browse")
    card = page.locator(".card", has=page.get_by_role("link", name="mine.txt", exact=True))
    expect(card.locator(".badge.private")).to_be_visible()
    card.get_by_role("button", name="Edit tags: mine.txt").click()
    card.get_by_label("Tags of mine.txt").fill("Holiday, 2026")
    card.get_by_role("button", name="Save tags").click()
    expect(card.locator(".tags li")).to_have_text(["2026", "holiday"])

    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Delete: mine.txt").click()
    expect(page.locator("#browse-status")).to_have_text("mine.txt was deleted.")
    expect(card).to_have_count(0)
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{site.url}/files/{mine}", headers=headers).status_code == 404


def test_the_options_reach_a_large_file_sent_in_chunks_too(
    site: LiveServer, page: Page, tmp_path: Path
) -> None:
    source = tmp_path / "lecture.bin"
    source.write_bytes(os.urandom(6 * MiB))  # above the resumable threshold: sent with tus
    page.goto(f"{site.url}/")
    page.click(".options summary")
    page.fill("#tags", "course, week-1")
    page.select_option("#expiry", "86400")
    page.fill("#max-downloads", "3")
    with page.expect_request(lambda request: request.url.endswith("/uploads")):
        page.set_input_files("#picker", str(source))
    expect(row(page, "lecture.bin")).to_have_class(re.compile("finished"), timeout=30_000)

    file_id = row(page, "lecture.bin").locator(".link").input_value().rsplit("/", 1)[-1]
    info = httpx.get(f"{site.url}/files/{file_id}").json()
    assert sorted(info["tags"]) == ["course", "week-1"]
    assert info["max_downloads"] == 3
    assert info["expires_at"] is not None


def test_an_anonymous_upload_can_be_deleted_from_the_same_browser(
    site: LiveServer, page: Page
) -> None:
    page.goto(f"{site.url}/")
    drop(page, {"oops.txt": b"sent by mistake"})
    expect(page.locator(".upload.finished")).to_have_count(1, timeout=20_000)
    file_id = page.locator(".upload .link").input_value().rsplit("/", 1)[-1]

    page.goto(f"{site.url}/browse")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete: oops.txt").click()

    expect(page.locator("#browse-status")).to_have_text("oops.txt was deleted.")
    assert httpx.get(f"{site.url}/files/{file_id}").status_code == 404


def test_language_follows_the_browser_and_the_switch_and_the_theme_its_switch(
    site: LiveServer, new_context: NewContext
) -> None:
    page = new_context(locale="ko-KR", color_scheme="light").new_page()
    page.goto(f"{site.url}/")
    expect(page.locator("h1")).to_have_text("파일 공유")
    assert page.locator("html").get_attribute("lang") == "ko"

    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("Share files")
    page.goto(f"{site.url}/browse")  # remembered
    expect(page.locator("h1")).to_have_text("Files")

    background = "getComputedStyle(document.body).backgroundColor"
    light = page.evaluate(background)
    theme = page.locator("#theme-switch")
    expect(theme).to_have_attribute("aria-pressed", "false")
    theme.click()
    expect(theme).to_have_attribute("aria-pressed", "true")
    dark = page.evaluate(background)
    assert dark != light
    page.reload()  # remembered, and rendered so by the server: no flash of the other theme
    assert page.locator("html").get_attribute("data-theme") == "dark"
    assert page.evaluate(background) == dark


def test_every_page_is_usable_from_the_keyboard_with_a_visible_focus(
    site: LiveServer, page: Page
) -> None:
    page.goto(f"{site.url}/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    for _ in range(20):  # the file picker is reachable, and says what it is
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "picker":
            break
    else:
        raise AssertionError("the file picker cannot be reached with Tab")
    expect(page.get_by_label("Choose files")).to_be_focused()


def upload_text(site: LiveServer, name: str, data: bytes) -> str:
    answer = httpx.post(f"{site.url}/upload", files={"file": (name, data)})
    return str(answer.json()["file_id"])


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_no_page_has_a_serious_accessibility_violation(
    site: LiveServer, new_context: NewContext, axe_source: str, theme: str
) -> None:
    file_id = upload_text(site, "notes.txt", b"hello\n")
    pages = ["/", f"/s/{file_id}", "/browse", "/s/00000000-0000-4000-8000-000000000000"]
    # axe is injected by the test: the pages' own CSP would refuse it.
    context = new_context(bypass_csp=True, color_scheme=theme)
    page = context.new_page()
    for language in ("en", "ko"):
        for path in pages:
            page.goto(f"{site.url}{path}?lang={language}")
            if path == "/browse":
                expect(page.locator(".card").first).to_be_visible()
            page.add_script_tag(content=axe_source)
            results = json.loads(page.evaluate("async () => JSON.stringify(await axe.run())"))
            serious = [
                (v["id"], v["help"], [n["target"] for n in v["nodes"]])
                for v in results["violations"]
                if v["impact"] in {"serious", "critical"}
            ]
            assert not serious, (path, language, serious)


SCREENSHOTS = os.environ.get("FWB_SCREENSHOTS")


@pytest.mark.skipif(not SCREENSHOTS, reason="set FWB_SCREENSHOTS=docs/screenshots to write them")
def test_screenshots_of_every_page_in_both_languages(
    site: LiveServer, new_context: NewContext, tmp_path: Path
) -> None:
    """Not a check: the pictures of the pages the README shows, written to FWB_SCREENSHOTS."""
    from PIL import Image, ImageDraw

    folder = Path(str(SCREENSHOTS))
    folder.mkdir(parents=True, exist_ok=True)
    picture = tmp_path / "harbour.png"
    image = Image.new("RGB", (640, 400), "#1e6091")
    draw = ImageDraw.Draw(image)
    for i in range(0, 400, 20):
        draw.rectangle((0, 200 + i // 2, 640, 210 + i // 2), fill=(30 + i // 3, 110, 160 - i // 4))
    image.save(picture)
    names = {
        "트립 노트.txt": "부산 → 제주\n09:30 출발\n",
        "budget-2026.csv": "item,amount\nrent,1200\n",
    }
    for name, text in names.items():
        upload_text(site, name, text.encode())
    with picture.open("rb") as handle:
        answer = httpx.post(
            f"{site.url}/upload",
            files={"file": ("harbour.png", handle)},
            data={"tags": "trip,2026"},
        )
    photo = answer.json()["file_id"]
    until(lambda: httpx.get(f"{site.url}/files/{photo}").json()["thumbnail_status"] == "ready")
    small = tmp_path / "slides.pdf"
    small.write_bytes(b"%PDF-1.4\n" + os.urandom(200_000))

    for language, locale in (("en", "en-US"), ("ko", "ko-KR")):
        context = new_context(locale=locale, viewport={"width": 960, "height": 720})
        page = context.new_page()
        page.goto(f"{site.url}/")
        page.set_input_files("#picker", [str(picture), str(small)])
        expect(page.locator(".upload.finished")).to_have_count(2, timeout=20_000)
        page.screenshot(path=folder / f"upload-{language}.png", full_page=True)
        page.goto(f"{site.url}/s/{photo}")
        page.screenshot(path=folder / f"share-{language}.png")
        page.goto(f"{site.url}/browse")
        expect(page.locator(".card img").first).to_be_visible()
        page.screenshot(path=folder / f"browse-{language}.png")
    dark = new_context(color_scheme="dark", viewport={"width": 390, "height": 844}).new_page()
    dark.goto(f"{site.url}/s/{photo}")
    dark.screenshot(path=folder / "share-phone-dark.png")
