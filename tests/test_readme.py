"""The README's examples, run as written and in order, with the real curl through bash, against
a live server on a fresh instance, started as `make run` starts it.

What runs: every `sh` block of "Try it" (each `$ ` line with its continuation lines, in one bash
session, so that a variable one line sets serves the next; the lines under a command are what
it shows), then the inline `curl` examples of "API" and its "Resumable uploads" (uploads with
`curl -T`, with and without a digest); and the Python block of "Resumable uploads" with tuspy.
The JavaScript block is a page's code: the web page's browser tests run that client. Every
command must exit 0 and do what the README says beside it: each example has its expectation
below, and an example without one, or an expectation whose example is gone, fails the test
too. A sample answer shown under a command may name only fields the real answer has; its
values are samples.

Made here, not in the README: the files it uploads (report.pdf, notes.md, holiday.jpg), the
test server's address in place of 127.0.0.1:8000, the key `keys create` really printed in place
of the README's sample, and `.venv`, the environment running these tests.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import Backend, issue_key
from tests.test_server import start_server

pytestmark = [pytest.mark.server]

README = Path(__file__).resolve().parent.parent / "README.md"
README_SERVER = "http://127.0.0.1:8000"
# A PDF by its magic, long enough for the README's first-100-bytes range.
REPORT = b"%PDF-1.4\n" + b"% quarterly report, page 1 of 1\n" * 8 + b"%%EOF\n"
NOTES = "# Notes\n\nThe meeting moved to Tuesday.\n"
# Each curl reports the status of its answer on stderr, whatever the example does with stdout.
CURL_STATUS = "curl() { command curl --write-out '%{stderr}HTTP %{http_code}\\n' \"$@\"; }"


@dataclass
class Example:
    """One command of the README and the lines it shows under it."""

    command: str
    shown: list[str] = field(default_factory=list)


@dataclass
class Ran:
    """What one example did."""

    example: Example
    exit_code: int
    stdout: str
    stderr: str
    statuses: list[int]
    folder: Path

    def answer(self) -> Any:
        return json.loads(self.stdout)

    def saved(self, name: str) -> Any:
        return json.loads((self.folder / name).read_text())


def _section(text: str, title: str) -> str:
    """The body of the section `title`, down to the next heading of its level or above."""
    match = re.search(rf"^(#+) {re.escape(title)}\n", text, re.MULTILINE)
    assert match, f"the README has no section {title!r}"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(text, match.end())
    return text[match.end() : end.start() if end else len(text)]


def shell_examples(text: str) -> list[Example]:
    examples: list[Example] = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        continued = False
        for line in block.splitlines():
            if continued:
                examples[-1].command += "\n" + line
            elif line.startswith("$ "):
                examples.append(Example(line.removeprefix("$ ")))
            elif examples:
                examples[-1].shown.append(line)
            continued = line.endswith("\\")
    return examples


def inline_curls(text: str) -> list[Example]:
    # Those with an address: the others name an option in passing. In a table, `|` is `\|`.
    found = re.findall(r"`(curl [^`]*http[^`]*)`", text)
    return [Example(command.replace("\\|", "|")) for command in found]


def readme_examples() -> list[Example]:
    text = README.read_text()
    return shell_examples(_section(text, "Try it")) + inline_curls(_section(text, "API"))


class Bash:
    """One bash session: variables and functions live from one example to the next."""

    def __init__(self, folder: Path, environment: dict[str, str]) -> None:
        self.folder = folder
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=folder,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.watchdog = threading.Timer(180, self.process.kill)
        self.watchdog.start()
        self.count = 0
        self.send(CURL_STATUS)

    def send(self, command: str) -> None:
        assert self.process.stdin
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def run(self, example: Example, command: str) -> Ran:
        self.count += 1
        out, err = self.folder / f".out-{self.count}", self.folder / f".err-{self.count}"
        # The newline before `}` keeps a trailing comment from swallowing it.
        self.send(f'{{ {command}\n}} >{out} 2>{err}; echo "done $?"')
        assert self.process.stdout
        reply = self.process.stdout.readline()
        assert reply.startswith("done "), f"bash stopped at: {command}"
        stderr = err.read_text()
        statuses = [int(status) for status in re.findall(r"^HTTP (\d{3})$", stderr, re.MULTILINE)]
        stderr = re.sub(r"^HTTP \d{3}\n", "", stderr, flags=re.MULTILINE)
        return Ran(example, int(reply.split()[1]), out.read_text(), stderr, statuses, self.folder)

    def close(self) -> None:
        self.watchdog.cancel()
        self.process.kill()
        self.process.communicate()


Check = Callable[[Ran], None]


def answered(*statuses: int) -> Check:
    def check(ran: Ran) -> None:
        assert len(ran.statuses) == 1 and ran.statuses[0] in statuses, ran.stdout

    return check


def answer_has(status: int, **fields: Any) -> Check:
    def check(ran: Ran) -> None:
        answered(status)(ran)
        answer = ran.answer()
        assert {name: answer[name] for name in fields} == fields

    return check


def printed(text: str) -> Check:
    def check(ran: Ran) -> None:
        answered(200)(ran)
        assert ran.stdout == text

    return check


def saved(status: int, name: str, content: bytes) -> Check:
    def check(ran: Ran) -> None:
        answered(status)(ran)
        assert (ran.folder / name).read_bytes() == content

    return check


def uploaded(saved_in: str | None, filename: str, mime_type: str) -> Check:
    def check(ran: Ran) -> None:
        answered(201)(ran)
        answer = ran.saved(saved_in) if saved_in else ran.answer()
        assert (answer["filename"], answer["mime_type"]) == (filename, mime_type)
        assert {"file_id", "download_url", "view_url", "info_url"} <= answer.keys()

    return check


def laid_out(name: str) -> Check:
    def check(ran: Ran) -> None:
        assert ran.statuses == []
        assert json.loads(ran.stdout) == ran.saved(name)
        assert len(ran.stdout.splitlines()) > 1

    return check


def shell_only(ran: Ran) -> None:
    assert (ran.stdout, ran.statuses) == ("", [])


def thumbnail(ran: Ran) -> None:
    answered(200, 202)(ran)
    made = (ran.folder / "small.webp").read_bytes()
    if ran.statuses == [200]:
        assert made[:4] == b"RIFF" and made[8:12] == b"WEBP"


def found(name: str) -> Check:
    def check(ran: Ran) -> None:
        answered(200)(ran)
        assert name in [item["filename"] for item in ran.answer()["items"]]

    return check


def tagged(*tags: str) -> Check:
    def check(ran: Ran) -> None:
        answered(200)(ran)
        assert sorted(ran.answer()["tags"]) == sorted(tags)

    return check


def tags_listed(ran: Ran) -> None:
    answered(200)(ran)
    assert "trip" in [tag["tag"] for tag in ran.answer()]


def categories_listed(ran: Ran) -> None:
    answered(200)(ran)
    assert "document" in [category["name"] for category in ran.answer()]


def statistics(ran: Ran) -> None:
    answered(200)(ran)
    assert ran.answer()["totals"]["files"] >= 1


def key_printed(ran: Ran) -> None:
    labels = [line.split(":")[0] for line in ran.stdout.splitlines()]
    assert labels == [line.split(":")[0] for line in ran.example.shown if ":" in line][:3]
    assert re.search(r"^key: +fwb_[0-9a-f]{12}_\S{43}$", ran.stdout, re.MULTILINE)
    assert "Store the key now: it cannot be shown again." in ran.stderr


def key_kept(ran: Ran) -> None:
    shell_only(ran)
    assert "Store the key now: it cannot be shown again." in ran.stderr


def _jpeg() -> bytes:
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(photo, "JPEG")
    return photo.getvalue()


HOLIDAY = _jpeg()

# A fragment of each example's command as the README writes it, and what it must do.
EXPECTED: dict[str, Check] = {
    "-F file=@report.pdf http://127.0.0.1:8000/upload > report.json": uploaded(
        "report.json", "report.pdf", "application/pdf"
    ),
    "python3 -m json.tool report.json": laid_out("report.json"),
    "field() {": shell_only,
    "ID=$(field file_id < report.json)": shell_only,
    "TOKEN=$(field delete_token < report.json)": shell_only,
    "curl -OJ": saved(200, "downloads/report.pdf", REPORT),
    "-r 0-99": saved(206, "start.pdf", REPORT[:100]),
    "# everything known about it": answer_has(200, filename="report.pdf", size=len(REPORT)),
    "files?category=document&q=report": found("report.pdf"),
    '-X DELETE -H "X-Delete-Token: $TOKEN"': answered(204),
    "# 404 now": answered(404),
    "-F file=@notes.md http://127.0.0.1:8000/upload > notes.json": uploaded(
        "notes.json", "notes.md", "text/markdown"
    ),
    "/view/$(field file_id": printed(NOTES),
    "keys create --name laptop --role uploader": key_printed,
    "KEY=fwb_": shell_only,
    "-F is_public=false http://127.0.0.1:8000/upload > private.json": uploaded(
        "private.json", "notes.md", "text/markdown"
    ),
    "NOTES=$(field file_id < private.json)": shell_only,
    "# 404: private": answered(404),
    "-d '{\"is_public\": true}'": answer_has(200, is_public=True),
    "-X DELETE http://127.0.0.1:8000/files/$NOTES": answered(204),
    "ADMIN_KEY=$(": key_kept,
    "-F file=@holiday.jpg": uploaded("holiday.json", "holiday.jpg", "image/jpeg"),
    "PHOTO=$(field file_id < holiday.json)": shell_only,
    "thumbnails/$PHOTO?size=small": thumbnail,
    "-o seen.jpg": saved(200, "seen.jpg", HOLIDAY),
    '\'{"tags": ["beach"]}\'': tagged("trip", "2026", "beach"),
    "files?tag=trip&tag=beach": found("holiday.jpg"),
    '\'{"tags": ["trip", "summer"]}\'': tagged("trip", "summer"),
    "/tags/summer": tagged("trip"),
    "curl http://127.0.0.1:8000/tags ": tags_listed,
    "curl http://127.0.0.1:8000/categories ": categories_listed,
    "/admin/categories": answer_has(201, name="design"),
    "/admin/extensions/svg": answer_has(200, category="design"),
    "http://127.0.0.1:8000/stats": statistics,
    "curl -T report.pdf 'http://127.0.0.1:8000/upload/?tags=reports,2026'": uploaded(
        None, "report.pdf", "application/pdf"
    ),
    'curl -T report.pdf -H "Content-Digest: sha-256=:$(openssl': uploaded(
        None, "report.pdf", "application/pdf"
    ),
    "curl -T report.pdf http://127.0.0.1:8000/upload/": uploaded(
        None, "report.pdf", "application/pdf"
    ),
}


def _expectation(example: Example) -> Check:
    matching = [fragment for fragment in EXPECTED if fragment in example.command]
    assert len(matching) == 1, f"one expectation for: {example.command}, not {matching}"
    return EXPECTED[matching[0]]


def _shows_only_real_fields(ran: Ran) -> None:
    shown = "\n".join(ran.example.shown)
    if shown.startswith("{"):
        assert set(re.findall(r'"(\w+)":', shown)) <= ran.answer().keys()


def test_every_example_has_one_expectation_and_every_expectation_its_example() -> None:
    examples = readme_examples()
    for example in examples:
        _expectation(example)
    gone = [e for e in EXPECTED if not any(e in example.command for example in examples)]
    assert gone == []


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A server on a fresh instance, and the folder it runs in: its data is in ./data, where
    the `filewallball` command run there finds it, as after `make run`."""
    folder = tmp_path / "checkout"
    (folder / "data").mkdir(parents=True)
    fresh = Backend("sqlite", f"sqlite:///{folder / 'data' / 'filewallball.db'}", None)
    live = start_server(
        fresh,
        folder / "data" / "files",
        folder,
        FWB_AUTO_MIGRATE="true",
        FWB_RATE_LIMIT_ENABLED="true",
        FWB_MAX_UPLOADS_PER_CLIENT="4",
    )
    try:
        yield live.url, folder
    finally:
        live.stop()


def test_every_readme_example_does_what_it_says(instance: tuple[str, Path]) -> None:
    url, folder = instance
    (folder / ".venv").symlink_to(sys.prefix)
    (folder / "report.pdf").write_bytes(REPORT)
    (folder / "notes.md").write_text(NOTES)
    (folder / "holiday.jpg").write_bytes(HOLIDAY)
    environment = {name: value for name, value in os.environ.items() if "FWB_" not in name}
    environment["FWB_LOG_LEVEL"] = "warning"
    examples = readme_examples()
    checks = [_expectation(example) for example in examples]

    bash = Bash(folder, environment)
    replaced = {README_SERVER: url}
    try:
        for example, check in zip(examples, checks, strict=True):
            command = example.command
            for sample, real in replaced.items():
                command = command.replace(sample, real)
            ran = bash.run(example, command)
            assert ran.exit_code == 0, f"{command}\n{ran.stderr}"
            check(ran)
            _shows_only_real_fields(ran)
            replaced |= _printed_keys(ran)
    finally:
        bash.close()


def _printed_keys(ran: Ran) -> dict[str, str]:
    """The README's sample key, and the key this run printed in its place."""
    pattern = re.compile(r"^key: +(fwb_\S+)$", re.MULTILINE)
    sample = pattern.search("\n".join(ran.example.shown))
    real = pattern.search(ran.stdout)
    return {sample.group(1): real.group(1)} if sample and real else {}


def test_the_python_resumable_upload_example_runs_as_written(
    instance: tuple[str, Path],
) -> None:
    """The tuspy block of "Resumable uploads", given the `key` it names and a holiday.mp4."""
    url, folder = instance
    block = re.search(
        r"```python\n(.*?)```", _section(README.read_text(), "Resumable uploads"), re.S
    )
    assert block is not None
    key = issue_key(f"sqlite:///{folder / 'data' / 'filewallball.db'}", "uploader")
    video = os.urandom(9 * 1024 * 1024)  # two chunks of the example's 8 MiB
    (folder / "holiday.mp4").write_bytes(video)
    script = f"key = {key!r}\n" + block.group(1).replace(README_SERVER, url)
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    download_url = ran.stdout.strip()
    assert download_url.startswith(f"{url}/download/")
    downloaded = subprocess.run(["curl", "-sf", download_url], capture_output=True, check=True)
    assert downloaded.stdout == video
