"""``utkast serve``: the partners' and reviewers' pages over HTTP (Starlette on uvicorn).

Wiring only: the routes look the personal token up (:mod:`tasks.portal.links`), read what a
page shows (:mod:`tasks.portal.pages`), take an upload in (:mod:`tasks.portal.uploads`) and,
when a Prefect API is configured, send ``inbox.file.arrived`` as ``utkast watch`` does.

```
GET  /l/<token>/                          the partner's or the reviewer's page
POST /l/<token>/lamna                     an upload into their own inbox folder
GET  /l/<token>/granskning/<piece>.html|docx      a partner's language review
GET  /l/<token>/utkast/<version>/<file>   a reviewer's draft and its changes
```

An unknown, malformed or rotated token gets the same 404 as any unknown address. Tokens
never reach the log (the access log shows a short hash instead) nor a page (links on the
pages are relative). Run it on 127.0.0.1 behind a TLS proxy (README).
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from urllib.parse import quote

from tasks.core.config import Config, load_config
from tasks.portal.links import PARTNER, find_link, token_hash
from tasks.portal.pages import (
    MIME,
    draft_file_key,
    partner_view,
    received_banner,
    render_page,
    review_file_key,
    reviewer_view,
)
from tasks.portal.uploads import (
    FORM_OVERHEAD,
    PIECE_FIELD,
    FormReader,
    UploadRefused,
    check_declared_length,
    refusal_message,
    store_upload,
)
from tasks.storage import open_storage
from tasks.storage.base import Storage, content_disposition

log = logging.getLogger("utkast")
CSS = "portal/portal.css"
TOKEN_IN_PATH = re.compile(r"/l/([A-Za-z0-9_-]+)")
DRAIN_SECONDS = 10  # how long a refused upload's remaining body is read, so the browser sees the answer
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
}
# Files from the outputs (review reports, drafts, changes) open as documents with no script.
DOCUMENT_CSP = "sandbox allow-downloads allow-popups; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


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


def create_app(inbox: str | Storage = "inbox", out: str | Storage = "outputs", config: Config | None = None):
    """The Starlette application over these inbox and outputs."""
    from starlette.applications import Starlette
    from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect
    from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
    from starlette.routing import Route

    inbox = open_storage(inbox) if isinstance(inbox, (str, Path)) else inbox
    out = open_storage(out) if isinstance(out, (str, Path)) else out
    config = config or load_config()
    limit = config.settings.limits.max_file_bytes
    css = (config.templates / CSS).read_text(encoding="utf-8")

    def page(request, template: str, status: int = 200, **context) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return HTMLResponse(render_page(config, template, css_href=f"{root}/stil.css", **context), status_code=status)

    def message(request, status: int, heading: str, *paragraphs: str) -> HTMLResponse:
        return page(request, "message.html.j2", status, heading=heading, paragraphs=paragraphs)

    def not_found(request, exc=None) -> HTMLResponse:
        return message(request, 404, "Sidan finns inte",
                       "Adressen stämmer inte, eller så har länken ersatts av en ny.",
                       "Kontrollera att hela länken kom med, eller be samordnaren om en ny personlig länk.")

    async def link_of(request):
        found = await run_in_threadpool(find_link, out, request.path_params["token"])
        if found is None:
            raise HTTPException(404)
        return found

    def personal_page(request, link, status: int = 200, **context) -> HTMLResponse:
        if link.kind == PARTNER:
            view = partner_view(inbox, out, config, link.name)
            template = "partner.html.j2"
        else:
            view = reviewer_view(inbox, out, config, link)
            template = "reviewer.html.j2"
        received = received_banner(view, request.query_params.get("mottagen")) if status == 200 else None
        return page(request, template, status, received=received, **{"error": None, "chosen": None, **context},
                    **view)

    async def home(request):
        return message(request, 200, "Lämna delrapporter och synpunkter",
                       "Den här tjänsten nås med den personliga länk du har fått av samordnaren.",
                       "Har du ingen länk, eller fungerar den inte längre? Kontakta samordnaren.")

    async def stylesheet(request):
        return Response(css, media_type="text/css; charset=utf-8", headers={"Cache-Control": "max-age=3600"})

    async def health(request):
        return PlainTextResponse("ok")

    async def bare(request):
        await link_of(request)  # a 404 for anything but a valid link
        return RedirectResponse(f"{request.path_params['token']}/", status_code=308)

    async def personal(request):
        link = await link_of(request)
        return await run_in_threadpool(personal_page, request, link)

    async def upload(request):
        link = await link_of(request)
        reader, chosen, received = None, None, None
        try:
            check_declared_length(request.headers.get("content-length"), limit)
            reader = FormReader(request.headers.get("content-type"), limit)
            async for chunk in request.stream():
                reader.feed(chunk)
            received = reader.finish()
            chosen = received.fields.get(PIECE_FIELD, "").strip() if link.kind == PARTNER else None
            key = await run_in_threadpool(store_upload, inbox, link.folder, received, chosen,
                                          tuple(config.outline.pieces))
        except UploadRefused as err:
            if received is None:  # let the browser finish sending, so it reads the answer
                await drain(request)
            error = {"field": err.field, "message": refusal_message(err)}
            log.info("upload refused (%s) for %s", err.code, link.folder)
            return await run_in_threadpool(personal_page, request, link, err.status, error=error, chosen=chosen)
        except ClientDisconnect:
            log.info("upload to %s broken off by the client; nothing stored", link.folder)
            return Response(status_code=400)
        finally:
            if reader is not None:
                reader.close()
        log.info("upload stored: %s (%d bytes)", key, received.size)
        await run_in_threadpool(notify, key)
        return RedirectResponse(f"./?mottagen={quote(key.rsplit('/', 1)[-1])}", status_code=303)

    async def drain(request) -> None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > 4 * (limit + FORM_OVERHEAD):
            return  # too much to read for a courtesy: the connection is closed instead
        async def read_rest() -> None:  # what request.stream() has not read yet, thrown away
            while True:
                message = await request.receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return

        try:
            await asyncio.wait_for(read_rest(), DRAIN_SECONDS)
        except asyncio.TimeoutError:
            pass

    def notify(key: str) -> None:
        """``inbox.file.arrived`` for the stored file, when a Prefect API is configured."""
        try:
            from prefect.settings import get_current_settings

            from flows.watch import emit_arrival

            if get_current_settings().api.url:
                emit_arrival(key, inbox.url, out.url)
        except Exception as exc:  # the file is stored; the five-minute schedule picks it up anyway
            log.warning("could not tell Prefect that %s arrived: %s", key, type(exc).__name__)

    def download(key: str | None, filename: str | None = None):
        if key is None:
            raise HTTPException(404)
        try:
            fh = out.open(key)
        except FileNotFoundError:
            raise HTTPException(404) from None

        def chunks():
            try:
                while chunk := fh.read(64 * 1024):
                    yield chunk
            finally:
                fh.close()

        kind = key.rsplit(".", 1)[-1]
        headers = {"Content-Security-Policy": DOCUMENT_CSP}
        if filename:
            headers["Content-Disposition"] = content_disposition(filename)
        return StreamingResponse(iterate_in_threadpool(chunks()), media_type=MIME.get(kind, "application/octet-stream"),
                                 headers=headers)

    async def review_file(request):
        link = await link_of(request)
        if link.kind != PARTNER:
            raise HTTPException(404)
        name = request.path_params["name"]
        key = review_file_key(config, link.name, name)
        return await run_in_threadpool(download, key, name if name.endswith(".docx") else None)

    async def draft_file(request):
        link = await link_of(request)
        if link.kind == PARTNER:
            raise HTTPException(404)
        version, name = request.path_params["version"], request.path_params["name"]
        key = await run_in_threadpool(draft_file_key, out, version, name)
        stem, fmt = name.rsplit(".", 1)
        filename = f"{stem}-{version}.{fmt}" if fmt != "html" else None
        return await run_in_threadpool(download, key, filename)

    routes = [
        Route("/", home), Route("/stil.css", stylesheet), Route("/health", health),
        Route("/l/{token}", bare), Route("/l/{token}/", personal),
        Route("/l/{token}/lamna", upload, methods=["POST"]),
        Route("/l/{token}/granskning/{name}", review_file),
        Route("/l/{token}/utkast/{version}/{name}", draft_file),
    ]

    async def method_not_allowed(request, exc):
        if exc.status_code == 404:
            return not_found(request)
        return message(request, exc.status_code, "Det gick inte", "Sidan kan inte användas på det sättet.")

    app = Starlette(routes=routes, exception_handlers={HTTPException: method_not_allowed})
    return SecurityHeaders(app)


def serve(inbox: str, out: str, host: str = "127.0.0.1", port: int = 8080, *, ready=None) -> None:
    """Run the service until interrupted (uvicorn; X-Forwarded-* trusted from 127.0.0.1 only)."""
    import uvicorn

    app = create_app(inbox, out)
    config = uvicorn.Config(app, host=host, port=port, proxy_headers=True, forwarded_allow_ips="127.0.0.1",
                            server_header=False, log_level="info")
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(HideTokens())
    if ready:
        ready(f"http://{host}:{port}")
    uvicorn.Server(config).run()
