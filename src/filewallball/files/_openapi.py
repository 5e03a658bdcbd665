"""What the OpenAPI document says of the files endpoints beyond their signatures: the request
bodies FastAPI cannot see (they are read as streams) and the answers each route may give."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from filewallball.files.schemas import UPLOAD_EXAMPLES
from filewallball.files.visibility import TEXT_SCHEMA
from filewallball.openapi import MAXIMUM_SETTING
from filewallball.problems import (
    AUTH,
    DATABASE_DOWN,
    FILE_NOT_FOUND,
    GONE,
    Responses,
    problem_response,
)
from filewallball.tag_names import MAX_TAG_LENGTH, MAX_TAGS

EXPIRY_LIMIT: dict[str, Any] = {MAXIMUM_SETTING: "max_expires_in"}
# For `is_public` in the query and X-Is-Public, which are read as text and parsed as the form
# field is, so that every transport takes the same spellings and refuses others with the same
# 400: the pattern is there for the document, not for FastAPI to check.
IS_PUBLIC_TEXT: dict[str, Any] = {"pattern": TEXT_SCHEMA["pattern"]}
BINARY = {"schema": {"type": "string", "format": "binary"}}

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        # No example: Swagger UI would send it with every "Try it out".
                        "tags": {
                            "type": "string",
                            "description": f"Comma-separated tags, such as `reports,2026`: "
                            f"at most {MAX_TAGS}, each at most {MAX_TAG_LENGTH} characters "
                            "once trimmed and case-folded.",
                        },
                        "is_public": {**TEXT_SCHEMA, "default": "true"},
                        "expires_in": {
                            "type": "integer",
                            "minimum": 1,
                            **EXPIRY_LIMIT,
                            "description": "Seconds until the link stops (410); at most "
                            "FWB_MAX_EXPIRES_IN. Default: never.",
                        },
                        "max_downloads": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 1_000_000_000,
                            "description": "Downloads the link allows. Default: no limit.",
                        },
                    },
                }
            }
        },
    }
}
RAW_BODY = {
    "requestBody": {
        # HTTP cannot tell a missing body from an empty one: either is an empty file.
        "required": False,
        "description": "The file's bytes; an empty body is an empty file.",
        "content": {"application/octet-stream": BINARY},
    }
}

UPLOAD_RESPONSES: Responses = {
    201: {
        "description": "Stored. With an API key the file is the key's; without, the answer "
        "carries a one-time `delete_token`.",
        "content": {"application/json": {"examples": UPLOAD_EXAMPLES}},
    },
    400: problem_response(400, "No file was sent: put it in a multipart field named 'file'."),
    **AUTH,
    408: problem_response(408, "No part of the upload arrived for 30 seconds."),
    413: problem_response(413, "The file is larger than the limit of 104857600 bytes."),
    415: problem_response(415, "Files of type .exe are not accepted."),
    422: problem_response(422, "The file was refused: it contains Eicar-Test-Signature."),
    503: problem_response(
        503,
        "The file could not be stored. Try again.",
        description="The storage, the database or the malware scanner cannot be reached.",
    ),
}

DOWNLOAD_ROUTE: dict[str, Any] = {
    "summary": "Download a file",
    "description": (
        "The file's bytes as an attachment. Supports one byte range (`Range: bytes=0-99`), "
        "`If-None-Match`, `If-Modified-Since` and `If-Range`."
    ),
    "response_class": Response,
    "responses": {
        200: {"description": "The whole file, as its stored type.", "content": {"*/*": BINARY}},
        206: {"description": "One byte range.", "content": {"*/*": BINARY}},
        304: {"description": "The copy the client has is current."},
        **AUTH,
        **FILE_NOT_FOUND,
        **GONE,
        416: problem_response(416, "The range is outside the file, which has 1234 bytes."),
        503: problem_response(
            503,
            "The file's content cannot be read right now.",
            description="The storage or the database cannot be reached.",
        ),
    },
}

PREVIEW_RESPONSES: Responses = {
    200: {
        "content": {
            "text/plain": {"example": "first line\nsecond line\n"},
            "image/*": BINARY,
        }
    },
    **AUTH,
    **FILE_NOT_FOUND,
    **GONE,
    415: problem_response(415, "Only text and images have a preview; this one is video/mp4."),
    **DATABASE_DOWN,
}

# A change or a delete is refused rather than made while other replicas could keep serving
# the file as it was.
CACHE_DOWN: Responses = {
    503: problem_response(
        503,
        "The shared cache cannot be reached, so the change cannot be made safely. Try again.",
        description="The shared cache or the database cannot be reached.",
    )
}
DELETE_RESPONSES: Responses = {**AUTH, **FILE_NOT_FOUND, **CACHE_DOWN}
CHANGE_RESPONSES: Responses = {
    **AUTH,
    400: problem_response(400, "expires_in must be 1 to 2592000 seconds."),
    **FILE_NOT_FOUND,
    **CACHE_DOWN,
}
