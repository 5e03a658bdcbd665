"""Where a request comes from, and the IP rules applied to it."""

from __future__ import annotations

import asyncio
import time
from ipaddress import ip_address, ip_network

import httpx
import pytest
from sqlalchemy import event
from starlette.datastructures import Headers

from filewallball.access.network import NetworkRules, client_address, client_bucket, normalise
from filewallball.access.roles import Role
from filewallball.app import create_app
from filewallball.settings import Settings
from tests.conftest import ClientFor

PROXY = [ip_network("10.0.0.0/8")]


def resolve(peer: str, via: str = "x-forwarded-for", **headers: str) -> str | None:
    found = client_address(peer, Headers(headers), PROXY, via)
    return str(found) if found is not None else None


def test_forwarded_headers_count_only_from_trusted_proxies() -> None:
    assert resolve("10.1.2.3", **{"x-forwarded-for": "198.51.100.7"}) == "198.51.100.7"
    # From anyone else the header is a lie, and ignored.
    assert resolve("203.0.113.5", **{"x-forwarded-for": "10.9.9.9"}) == "203.0.113.5"


def test_a_spoofed_hop_before_our_proxy_is_not_believed() -> None:
    # The client wrote "1.2.3.4" itself; our proxy appended the address it saw.
    headers = {"x-forwarded-for": "1.2.3.4, 198.51.100.7"}
    assert resolve("10.0.0.1", **headers) == "198.51.100.7"
    chained = {"x-forwarded-for": "1.2.3.4, 198.51.100.7, 10.0.0.2"}
    assert resolve("10.0.0.1", **chained) == "198.51.100.7"


def test_rfc_7239_forwarded_is_understood() -> None:
    header = 'for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"'
    assert resolve("10.0.0.1", "forwarded", forwarded=header) == "2001:db8:cafe::17"


def test_only_the_header_our_proxies_write_is_read() -> None:
    # The proxy appends to X-Forwarded-For and passes the client's own Forwarded through.
    both = {"x-forwarded-for": "198.51.100.7", "forwarded": "for=6.6.6.6"}
    assert resolve("10.0.0.1", **both) == "198.51.100.7"
    assert resolve("10.0.0.1", "forwarded", **both) == "6.6.6.6"


def test_ipv6_clients_are_counted_by_their_64() -> None:
    one = client_bucket(normalise("2001:db8:1:2::1"))
    assert one == client_bucket(normalise("2001:db8:1:2:ffff::9"))
    assert one != client_bucket(normalise("2001:db8:1:3::1"))
    assert client_bucket(normalise("192.0.2.1")) == "ip:192.0.2.1"


@pytest.mark.parametrize(
    ("via", "header"),
    [
        ("x-forwarded-for", "unknown"),
        ("x-forwarded-for", "not-an-ip, 10.0.0.2"),
        ("forwarded", "for=unknown"),
        ("forwarded", 'for="_hidden"'),
        ("forwarded", "for=198.51.100.7, for=_proxy1"),
    ],
)
def test_an_unreadable_hop_is_no_address_not_the_proxys(via: str, header: str) -> None:
    assert resolve("10.0.0.1", via, **{via: header}) is None
    # Beyond an untrusted hop, what comes before it is never read.
    nearer = "for=203.0.113.9" if via == "forwarded" else "203.0.113.9"
    assert resolve("10.0.0.1", via, **{via: f"{header}, {nearer}"}) == "203.0.113.9"


def test_no_address_is_refused_wherever_an_allow_list_applies() -> None:
    allow_all = NetworkRules(allow=(ip_network("0.0.0.0/0"), ip_network("::/0")))
    assert not allow_all.permits(None, Role.viewer)
    admin_only_from = NetworkRules(role_allow={Role.admin: (ip_network("10.0.0.0/8"),)})
    assert not admin_only_from.permits(None, Role.admin)
    assert admin_only_from.permits(None, Role.viewer)
    # A deny list cannot name it: with no allow list it is served, like any address.
    assert NetworkRules(deny=(ip_network("0.0.0.0/0"),)).permits(None, Role.viewer)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("[::ffff:c000:0201]", "192.0.2.1"),
        ("192.0.2.1:8080", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("::192.0.2.1", "192.0.2.1"),
        ("[::c000:201]:443", "192.0.2.1"),
        ("::1", "::1"),
        ("::", "::"),
        ("127.1", None),
        ("0x7f.0.0.1", None),
        ("010.0.0.1", None),
    ],
)
def test_addresses_are_normalised_before_matching(raw: str, normal: str | None) -> None:
    found = normalise(raw)
    assert (str(found) if found is not None else None) == normal


def test_no_spelling_slips_past_a_deny_rule() -> None:
    rules = NetworkRules(deny=(ip_network("192.0.2.0/24"),))
    for spelling in ("192.0.2.1", "::ffff:192.0.2.1", "::ffff:c000:201", "::192.0.2.1"):
        address = normalise(spelling)
        assert address is not None
        assert not rules.permits(address, Role.viewer), spelling
    mapped_rule = NetworkRules(deny=(ip_network("::ffff:192.0.2.0/120"),))
    assert not mapped_rule.permits(ip_address("192.0.2.9"), Role.viewer)


def test_role_lists_and_allow_lists() -> None:
    rules = NetworkRules(
        allow=(ip_network("10.0.0.0/8"), ip_network("2001:db8::/32")),
        role_allow={Role.admin: (ip_network("10.1.0.0/16"),)},
    )
    assert rules.permits(ip_address("10.2.0.1"), Role.uploader)
    assert not rules.permits(ip_address("10.2.0.1"), Role.admin)
    assert rules.permits(ip_address("10.1.0.1"), Role.admin)
    assert rules.permits(ip_address("2001:db8::5"), Role.viewer)
    assert not rules.permits(ip_address("192.0.2.1"), Role.viewer)


def test_a_role_deny_list_refuses_that_role_only() -> None:
    rules = NetworkRules(
        role_allow={Role.admin: (ip_network("10.0.0.0/8"),)},
        role_deny={Role.admin: (ip_network("10.6.0.0/16"),), Role.uploader: (ip_network("::/0"),)},
    )
    assert rules.permits(ip_address("10.1.0.1"), Role.admin)
    assert not rules.permits(ip_address("10.6.0.1"), Role.admin)  # deny wins over allow
    assert not rules.permits(ip_address("::ffff:10.6.0.1"), Role.admin)
    assert rules.permits(ip_address("10.6.0.1"), Role.viewer)
    assert not rules.permits(ip_address("2001:db8::1"), Role.uploader)
    assert rules.permits(ip_address("192.0.2.1"), Role.uploader)


@pytest.mark.anyio
async def test_admins_deny_a_role_from_a_network_at_run_time(client_for: ClientFor) -> None:
    admin = await client_for(Role.admin)
    listed = {item["key"] for item in (await admin.get("/admin/settings")).json()}
    assert {"ip.deny.admin", "ip.deny.uploader", "ip.deny.viewer"} <= listed
    changed = await admin.put("/admin/settings/ip.deny.uploader", json={"value": "198.51.100.0/24"})
    assert changed.status_code == 200
    assert changed.json()["source"] == "runtime"

    uploader_there = await client_for(Role.uploader, ip="198.51.100.9")
    viewer_there = await client_for(Role.viewer, ip="198.51.100.9")
    uploader_elsewhere = await client_for(Role.uploader, ip="203.0.113.9")
    refused = await uploader_there.get("/files")
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/ip-denied"
    assert (await viewer_there.get("/files")).status_code == 200
    assert (await uploader_elsewhere.get("/files")).status_code == 200
    denials = (await admin.get("/admin/audit", params={"action": "ip_denied"})).json()
    assert [item["client_ip"] for item in denials["items"]] == ["198.51.100.9"]


@pytest.mark.anyio
async def test_denied_networks_get_403_and_an_audit_entry(
    settings: Settings, client_for: ClientFor
) -> None:
    app = create_app(
        settings.model_copy(
            update={
                "ip_deny": [ip_network("198.51.100.0/24")],
                "trusted_proxies": [ip_network("10.0.0.0/8")],
            }
        )
    )
    async with app.router.lifespan_context(app):

        async def get(peer: str, **headers: str) -> httpx.Response:
            transport = httpx.ASGITransport(app=app, client=(peer, 1234))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                return await http.get("/files", headers=headers)

        assert (await get("198.51.100.3")).status_code == 403
        assert (await get("::ffff:198.51.100.3")).status_code == 403
        assert (await get("10.0.0.5", **{"X-Forwarded-For": "198.51.100.3"})).status_code == 403
        # A denied client cannot hide behind a header it sets itself.
        assert (await get("198.51.100.3", **{"X-Forwarded-For": "203.0.113.1"})).status_code == 403
        assert (await get("203.0.113.1")).status_code == 200
    admin = await client_for(Role.admin)
    denials = (await admin.get("/admin/audit", params={"action": "ip_denied"})).json()
    assert denials["total"] >= 1
    assert denials["items"][0]["client_ip"] == "198.51.100.3"


@pytest.mark.anyio
async def test_an_unknown_client_behind_our_proxy_is_refused_by_an_allow_list(
    settings: Settings,
) -> None:
    proxy = {"trusted_proxies": [ip_network("10.0.0.0/8")]}
    statuses = []
    for rules in ({}, {"ip_allow": [ip_network("10.0.0.0/8"), ip_network("203.0.113.0/24")]}):
        app = create_app(settings.model_copy(update={**proxy, **rules}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("10.0.0.5", 1234))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                unknown = await http.get("/files", headers={"X-Forwarded-For": "unknown"})
                known = await http.get("/files", headers={"X-Forwarded-For": "203.0.113.4"})
            statuses.append((unknown.status_code, known.status_code))
    # Without an allow list it is served; with one it is refused, though the proxy is allowed.
    assert statuses == [(200, 200), (403, 200)]


@pytest.mark.anyio
async def test_admins_change_network_rules_at_run_time_on_every_replica(
    settings: Settings, client_for: ClientFor
) -> None:
    admin = await client_for(Role.admin, ip="10.1.1.1")
    fast = settings.model_copy(update={"policy_refresh_seconds": 0.1})
    replica = create_app(fast)
    async with replica.router.lifespan_context(replica):
        transport = httpx.ASGITransport(app=replica, client=("192.0.2.50", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/files")).status_code == 200
            changed = await admin.put("/admin/settings/ip.deny", json={"value": "192.0.2.0/24"})
            assert changed.status_code == 200
            assert changed.json()["value"] == "192.0.2.0/24"
            # Each replica reloads the rules on its own schedule: refused once it has.
            refused, deadline = False, time.monotonic() + 30
            while not refused and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                refused = (await http.get("/files")).status_code == 403
            assert refused
            # Admin only from 10.1.0.0/16, set the same way.
            await admin.put("/admin/settings/ip.allow.admin", json={"value": "10.1.0.0/16"})
            elsewhere = await client_for(Role.admin, ip="203.0.113.8")
            assert (await elsewhere.get("/admin/keys")).status_code == 403
            assert (await admin.get("/admin/keys")).status_code == 200
    bad = await admin.put("/admin/settings/ip.deny", json={"value": "10.0.0.0/33"})
    assert bad.status_code == 400
    unknown = await admin.put("/admin/settings/ip.nope", json={"value": ""})
    assert unknown.status_code == 404
    audit = (await admin.get("/admin/audit", params={"action": "setting_changed"})).json()
    assert audit["total"] == 2


@pytest.mark.anyio
async def test_rules_due_for_a_refresh_are_read_once_for_every_request_waiting(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"policy_refresh_seconds": 0.2}))
    reads: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "system_settings" in statement:
            reads.append(statement)

    async with app.router.lifespan_context(app):
        engine = app.state.fwb.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        transport = httpx.ASGITransport(app=app, client=("192.0.2.60", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await http.get("/files")
            await asyncio.sleep(0.3)  # the rules are due again
            reads.clear()
            answers = await asyncio.gather(*(http.get("/files") for _ in range(40)))
        event.remove(engine, "before_cursor_execute", count)
    assert {answer.status_code for answer in answers} == {200}
    assert len(reads) == 1
