"""End-to-end checksums: a digest sent with an upload is checked before anything is stored, and a
download says what its bytes must hash to (RFC 9530 Digest Fields, RFC 1864 Content-MD5)."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from sqlalchemy import Engine

from filewallball.storage import Storage
from tests.conftest import blob_keys, count_rows

pytestmark = pytest.mark.anyio

CONTENT = b"the numbers, as signed off\n" * 1000


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


SHA256 = b64(hashlib.sha256(CONTENT).digest())
SHA512 = b64(hashlib.sha512(CONTENT).digest())
MD5 = b64(hashlib.md5(CONTENT).digest())
WRONG = b64(hashlib.sha256(b"something else").digest())


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Digest": f"sha-256=:{SHA256}:"},
        {"Repr-Digest": f"sha-512=:{SHA512}:"},
        {"Content-Digest": f"sha-256=:{SHA256}:, sha-512=:{SHA512}:"},
        {"Content-MD5": MD5},
        # An algorithm we do not know is ignored, as RFC 9530 allows.
        {"Content-Digest": f"unixsum=:AAAA:, sha-256=:{SHA256}:"},
    ],
    ids=["content-digest", "repr-digest-sha512", "both-algorithms", "content-md5", "unknown"],
)
async def test_a_raw_upload_with_the_right_digest_is_stored(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    answer = await client.put("/upload/signed.txt", content=CONTENT, headers=headers)

    assert answer.status_code == 201, answer.text
    assert (await client.get(answer.json()["download_url"])).content == CONTENT


@pytest.mark.parametrize(
    ("headers", "algorithm"),
    [
        ({"Content-Digest": f"sha-256=:{WRONG}:"}, "sha256"),
        ({"Repr-Digest": f"sha-512=:{SHA256}:"}, "sha512"),
        ({"Content-Digest": f"sha-256=:{SHA256}:, sha-512=:{SHA256}:"}, "sha512"),
        ({"Content-MD5": b64(b"0" * 16)}, "md5"),
    ],
    ids=["sha256", "sha512", "one-of-two", "md5"],
)
async def test_a_digest_mismatch_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    storage: Storage,
    database: Engine,
    headers: dict[str, str],
    algorithm: str,
) -> None:
    put = await client.put("/upload/signed.txt", content=CONTENT, headers=headers)
    post = await client.post("/upload", files={"file": ("signed.txt", CONTENT)}, headers=headers)

    for refused in (put, post):
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"
        assert algorithm in refused.json()["detail"]
        assert "nothing was stored" in refused.json()["detail"]
    assert await blob_keys(storage) == []
    assert count_rows(database, "files") == 0


async def test_a_multipart_upload_digest_names_the_file_not_the_form(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post(
        "/upload",
        files={"file": ("signed.txt", CONTENT)},
        data={"tags": "signed"},
        headers={"Content-Digest": f"sha-256=:{SHA256}:"},
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["sha256"] == hashlib.sha256(CONTENT).hexdigest()


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Digest": "sha-256=not-bytes"},
        {"Content-Digest": "sha-256=:!!:"},
        {"Repr-Digest": "=:abc:"},
        {"Content-MD5": "not base64!"},
    ],
)
async def test_an_unreadable_digest_is_a_bad_request(
    client: httpx.AsyncClient, database: Engine, headers: dict[str, str]
) -> None:
    answer = await client.put("/upload/signed.txt", content=CONTENT, headers=headers)

    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert count_rows(database, "files") == 0


async def test_a_download_says_the_sha256_of_the_whole_file(client: httpx.AsyncClient) -> None:
    uploaded = (await client.put("/upload/signed.txt", content=CONTENT)).json()
    url = uploaded["download_url"]

    whole = await client.get(url)
    part = await client.get(url, headers={"Range": "bytes=0-99"})
    head = await client.head(url)

    expected = f"sha-256=:{SHA256}:"
    assert whole.headers["repr-digest"] == expected
    assert hashlib.sha256(whole.content).digest() == base64.b64decode(SHA256)
    # A range is part of the same representation: the digest is still the whole file's.
    assert (part.status_code, part.headers["repr-digest"]) == (206, expected)
    assert head.headers["repr-digest"] == expected


async def test_want_repr_digest_is_honoured(client: httpx.AsyncClient) -> None:
    url = (await client.put("/upload/signed.txt", content=CONTENT)).json()["download_url"]

    wanted = await client.get(url, headers={"Want-Repr-Digest": "sha-512=3, sha-256=10"})
    declined = await client.get(url, headers={"Want-Repr-Digest": "sha-256=0"})

    assert wanted.headers["repr-digest"] == f"sha-256=:{SHA256}:"
    assert "repr-digest" not in declined.headers
    assert declined.content == CONTENT
