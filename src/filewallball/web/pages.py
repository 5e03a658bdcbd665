"""Rendering a page: the templates, the visitor's language and theme, and the headers that
keep a page to its own scripts and styles."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from filewallball.web import i18n
from filewallball.web.assets import catalogue

# Only this origin's files may run or style a page; user content is text in the markup.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
THEME_COOKIE = "fwb_theme"
THEMES = ("light", "dark")
YEAR = 365 * 86_400


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,  # every template is HTML: filenames and tags are always escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def language_of(request: Request) -> i18n.Language:
    return i18n.choose(
        request.query_params.get("lang"),
        request.cookies.get(i18n.COOKIE),
        request.headers.get("accept-language"),
    )


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page in the visitor's language; a language chosen by the switch is remembered."""
    language = language_of(request)
    words = i18n.MESSAGES[language]
    theme = request.cookies.get(THEME_COOKIE)

    def t(key: str, **values: object) -> str:
        return words[key].format(**values) if values else words[key]

    html = (
        environment()
        .get_template(template)
        .render(
            lang=language,
            other_lang="en" if language == "ko" else "ko",
            theme=theme if theme in THEMES else None,
            t=t,
            messages=words,
            asset=catalogue().url,
            size=lambda n: i18n.human_size(n, language),
            path=request.url.path,
            **context,
        )
    )
    response = HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Content-Security-Policy": PAGE_CSP,
            "Cache-Control": "no-store",
            "Content-Language": language,
            "Vary": "Accept-Language, Cookie",
        },
    )
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, language, max_age=YEAR, samesite="lax")
    return response
