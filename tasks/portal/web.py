"""What every answer of the portal carries, and what its log may say.

:class:`SecurityHeaders` adds strict headers to every response (the pages load nothing from
elsewhere and run no script of anyone else's); :class:`HideTokens` replaces personal tokens in
log lines (uvicorn's access log) with a short hash, so a log never holds a working link.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from tasks.portal.links import token_hash

TOKEN_IN_PATH = re.compile(r"/l/([A-Za-z0-9_-]+)")
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
                               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
}
# Files from the outputs (review reports, drafts, changes) open as documents with no script.
DOCUMENT_CSP = "sandbox allow-downloads allow-popups; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def from_another_site(headers) -> bool:
    """Did a browser send this form from another site? A browser's own word comes first:
    ``Sec-Fetch-Site`` other than same-origin (or none: typed or bookmarked). Without it, an
    ``Origin`` whose host is not the ``Host`` the request came to. ``Origin: null`` alone says
    nothing: a browser sends it for its own forms under ``Referrer-Policy: no-referrer``, which
    these pages set. A client that sends neither (curl, a script) is no browser tricked by
    another page."""
    site = (headers.get("sec-fetch-site") or "").lower()
    if site:
        return site not in ("same-origin", "none")
    origin = (headers.get("origin") or "").strip()
    if not origin or origin.lower() == "null":
        return False
    return urlsplit(origin).netloc.lower() != (headers.get("host") or "").lower()


class SecurityHeaders:
    """Adds :data:`PAGE_HEADERS` to every response (a header the route set wins)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in PAGE_HEADERS.items()
                         if k.lower().encode() not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HideTokens(logging.Filter):
    """Replace personal tokens in log lines (uvicorn's access log) with a short hash."""

    @staticmethod
    def hide(text: str) -> str:
        return TOKEN_IN_PATH.sub(lambda m: f"/l/#{token_hash(m.group(1))[:10]}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.hide(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.hide(a) if isinstance(a, str) else a for a in record.args)
        return True
