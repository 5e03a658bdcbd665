"""FWB_ALLOWED_HOSTS: a forged Host header is refused, so it cannot reach the links."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from filewallball.app import create_app
from filewallball.cli import warn_if_links_follow_any_host
from filewallball.log import configure_logging
from filewallball.settings import Settings, SettingsError, load_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    allowed = ["files.example.org", "*.files.example.org"]
    app = create_app(settings.model_copy(update={"allowed_hosts": allowed}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://files.example.org") as http,
    ):
        yield http


async def test_a_forged_host_is_a_400_problem(guarded: httpx.AsyncClient) -> None:
    for host in ("evil.example", "files.example.org.evil.example", "evilfiles.example.org"):
        refused = await guarded.get("/files", headers={"Host": host})
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 400
        assert "Host" in refused.json()["detail"]
        assert refused.headers["x-content-type-options"] == "nosniff"
    upload = await guarded.post(
        "/upload", files={"file": ("a.txt", b"x")}, headers={"Host": "evil.example"}
    )
    assert upload.status_code == 400
    assert (await guarded.get("/files")).json()["total"] == 0


@pytest.mark.parametrize(
    "host",
    [
        "files.example.org:@evil.example",
        "files.example.org:99999",
        "files.example.org:1/x",
        "files.example.org:",
        "files.example.org evil",
        "[::1]@evil.example",
    ],
)
async def test_an_allowed_name_with_anything_but_a_port_after_it_is_refused(
    guarded: httpx.AsyncClient, host: str
) -> None:
    refused = await guarded.get("/files", headers={"Host": host})
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"


async def test_a_fully_qualified_name_with_its_trailing_dot_is_the_same_host(
    guarded: httpx.AsyncClient,
) -> None:
    assert (await guarded.get("/files", headers={"Host": "files.example.org."})).status_code == 200
    assert (
        await guarded.get("/files", headers={"Host": "FILES.example.org:80"})
    ).status_code == 200


async def test_links_use_the_allowed_host_the_request_named(guarded: httpx.AsyncClient) -> None:
    created = await guarded.post("/upload", files={"file": ("a.txt", b"x")})
    assert created.status_code == 201
    assert created.json()["download_url"].startswith("http://files.example.org/")
    on_port = await guarded.get("/files", headers={"Host": "eu.files.example.org:8443"})
    assert on_port.status_code == 200
    assert on_port.json()["items"][0]["info_url"].startswith("http://eu.files.example.org:8443/")


async def test_probes_answer_whatever_the_host(guarded: httpx.AsyncClient) -> None:
    # Kubernetes and Prometheus call a pod by its IP address.
    for probe in ("/health/live", "/health/ready", "/metrics"):
        response = await guarded.get(probe, headers={"Host": "10.1.2.3:8000"})
        assert response.status_code == 200, probe


async def test_any_host_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/files", headers={"Host": "whatever.example"})).status_code == 200


@pytest.mark.parametrize(
    "value", ["", "files.*.org", "http://files.example.org", "files.example.org:8443"]
)
def test_allowed_hosts_must_be_host_names(value: str) -> None:
    with pytest.raises(SettingsError, match="FWB_ALLOWED_HOSTS"):
        load_settings(allowed_hosts=value)


@pytest.mark.parametrize(
    ("host", "overrides", "warned"),
    [
        ("0.0.0.0", {}, True),
        ("::", {}, True),
        ("files.internal", {}, True),
        ("127.0.0.1", {}, False),
        ("localhost", {}, False),
        ("0.0.0.0", {"base_url": "https://files.example.org"}, False),
        ("0.0.0.0", {"allowed_hosts": "files.example.org"}, False),
    ],
)
def test_serving_beyond_loopback_with_links_from_any_host_warns(
    host: str, overrides: dict[str, str], warned: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(**overrides)
    configure_logging(settings)  # onto this test's captured stdout, where the service logs
    warn_if_links_follow_any_host(settings, host)
    assert ("links_follow_any_host" in capsys.readouterr().out) is warned
