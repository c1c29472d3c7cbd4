"""The partners' and reviewers' pages over HTTP: Starlette routes, one handler each.

```
GET  /l/<token>/                          the partner's or the reviewer's page
POST /l/<token>/lamna                     an upload into their own inbox folder
GET  /l/<token>/granskning/<piece>.html|docx      a partner's language review
GET  /l/<token>/utkast/<version>/<file>   a reviewer's draft and its changes
```

The handlers are module-level functions of a request; what they work on (the inbox, the
outputs, the configuration, and what to call when an upload is stored) is the
:class:`Portal` in ``request.app.state.portal``, set by :func:`create_app`. They look the
personal token up (:mod:`tasks.portal.links`), read what a page shows
(:mod:`tasks.portal.pages`) and take an upload in (:mod:`tasks.portal.uploads`).

An unknown, malformed or rotated token gets the same 404 as any unknown address. Tokens
never reach a page (links on the pages are relative) nor the log (:mod:`tasks.portal.web`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tasks.core.config import Config
from tasks.core.errors import StorageError
from tasks.core.formats import draft_mime
from tasks.intake.tracker import file_ref
from tasks.personal.filenames import mask_key
from tasks.personal.rules import PersonalRules, load_rules
from tasks.portal.links import LINKS_KEY, PARTNER, Link, LinksUnreadable, find_link, read_links
from tasks.portal.pages import (
    RECEIVED,
    draft_file_key,
    partner_view,
    received_banner,
    render_page,
    review_download_name,
    review_file_key,
    reviewer_view,
)
from tasks.portal.uploads import (
    FORM_OVERHEAD,
    PIECE_FIELD,
    FormReader,
    UploadRefused,
    check_declared_length,
    clear_stale_uploads,
    refusal_message,
    store_upload,
)
from tasks.portal.web import DOCUMENT_CSP, SecurityHeaders, from_another_site
from tasks.storage import open_storage
from tasks.storage.base import Storage, content_disposition

log = logging.getLogger("utkast")
CSS = "portal/portal.css"
SCRIPT = "portal/portal.js"  # progressive enhancement: several files, progress, live status
DRAIN_SECONDS = 10  # how long a refused upload's remaining body is read, so the browser sees the answer


@dataclass
class Portal:
    """What the handlers work on: the inbox and outputs, the configuration, and the call
    made when an upload is stored (``on_arrival(key)``: the edge tells Prefect)."""

    inbox: Storage
    out: Storage
    config: Config
    on_arrival: Callable[[str], None] = lambda key: None
    css: str = field(init=False)
    script: str = field(init=False)
    rules: PersonalRules = field(init=False)

    def __post_init__(self):
        self.css = (self.config.templates / CSS).read_text(encoding="utf-8")
        self.script = (self.config.templates / SCRIPT).read_text(encoding="utf-8")
        self.rules = load_rules(self.config.templates, self.config.registry)

    @property
    def limit(self) -> int:
        return self.config.settings.limits.max_file_bytes

    def shown(self, key: str) -> str:
        """``key`` as logs and events may show it: personal data in the name masked."""
        return mask_key(key, self.rules)


def portal_of(request: Request) -> Portal:
    return request.app.state.portal


# --- answers ----------------------------------------------------------------------------------


def page(request: Request, template: str, status: int = 200, headers: dict | None = None, **context) -> HTMLResponse:
    """One of ``templates/portal/`` as the answer."""
    root = request.scope.get("root_path", "").rstrip("/")
    html = render_page(portal_of(request).config, template, root, **context)
    return HTMLResponse(html, status_code=status, headers=headers)


def message(request: Request, status: int, heading: str, *paragraphs: str, headers: dict | None = None) -> HTMLResponse:
    return page(request, "message.html.j2", status, headers, heading=heading, paragraphs=paragraphs)


def not_found(request: Request) -> HTMLResponse:
    return message(request, 404, "Sidan finns inte",
                   "Adressen stämmer inte, eller så har länken ersatts av en ny.",
                   "Kontrollera att hela länken kom med, eller be samordnaren om en ny personlig länk.")


async def link_of(request: Request) -> Link:
    """Whose the token in the address is; a 404 for anything but a valid link."""
    found = await run_in_threadpool(find_link, portal_of(request).out, request.path_params["token"])
    if found is None:
        raise HTTPException(404)
    return found


def personal_page(request: Request, link: Link, status: int = 200, **context) -> HTMLResponse:
    """The partner's or the reviewer's page, with ``context`` (an error, the chosen piece)."""
    portal = portal_of(request)
    if link.kind == PARTNER:
        view = partner_view(portal.inbox, portal.out, portal.config, link.name)
        template = "partner.html.j2"
    else:
        view = reviewer_view(portal.inbox, portal.out, portal.config, link)
        template = "reviewer.html.j2"
    received = received_banner(view, request.query_params.get(RECEIVED)) if status == 200 else None
    return page(request, template, status, received=received, **{"error": None, "chosen": None, **context}, **view)


# --- the handlers -----------------------------------------------------------------------------


async def home(request: Request) -> Response:
    return message(request, 200, "Lämna delrapporter och synpunkter",
                   "Den här tjänsten nås med den personliga länk du har fått av samordnaren.",
                   "Har du ingen länk, eller fungerar den inte längre? Kontakta samordnaren.")


async def stylesheet(request: Request) -> Response:
    return Response(portal_of(request).css, media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "max-age=3600"})


async def script(request: Request) -> Response:
    return Response(portal_of(request).script, media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "max-age=3600"})


async def health(request: Request) -> Response:
    """``ok``, or 503 naming what cannot be reached (for the operator's monitoring)."""
    problems = await run_in_threadpool(storage_problems, portal_of(request))
    if problems:
        return PlainTextResponse("unavailable: " + "; ".join(problems), status_code=503)
    return PlainTextResponse("ok")


def storage_problems(portal: Portal) -> list[str]:
    """What the service needs and cannot use now: the inbox, the outputs, the links."""
    problems = []
    for name, store in (("inbox", portal.inbox), ("outputs", portal.out)):
        try:
            next(iter(store.list("")), None)
        except StorageError:
            problems.append(f"{name} unreachable")
    if not problems:
        try:
            read_links(portal.out)
        except LinksUnreadable:
            problems.append(f"{LINKS_KEY} cannot be read")
        except StorageError:
            problems.append("outputs unreachable")
    return problems


async def bare(request: Request) -> Response:
    await link_of(request)  # a 404 for anything but a valid link
    return RedirectResponse(f"{request.path_params['token']}/", status_code=308)


async def personal(request: Request) -> Response:
    link = await link_of(request)
    return await run_in_threadpool(personal_page, request, link)


async def upload(request: Request) -> Response:
    """An upload into the link's own folder: stored whole, or refused with a Swedish reason."""
    portal, link = portal_of(request), await link_of(request)
    if from_another_site(request.headers):
        log.info("upload to %s refused: the form came from another site", link.folder)
        return message(request, 403, "Filen togs inte emot",
                       "Formuläret skickades från en annan webbplats. Öppna din personliga länk och ladda upp "
                       "filen där.")
    reader, chosen, received = None, None, None
    try:
        check_declared_length(request.headers.get("content-length"), portal.limit)
        reader = FormReader(request.headers.get("content-type"), portal.limit)
        async with asyncio.timeout(portal.config.settings.intake.max_upload_seconds):
            async for chunk in request.stream():
                reader.feed(chunk)
        received = reader.finish()
        chosen = received.fields.get(PIECE_FIELD, "").strip() if link.kind == PARTNER else None
        stored = await run_in_threadpool(store_upload, portal.inbox, link.folder, received, chosen,
                                         tuple(portal.config.outline.pieces),
                                         portal.config.settings.limits.max_folder_bytes)
    except UploadRefused as err:
        if received is None:  # let the browser finish sending, so it reads the answer
            await drain(request, portal.limit)
        error = {"field": err.field, "message": refusal_message(err)}
        log.info("upload refused (%s) for %s", err.code, link.folder)
        return await run_in_threadpool(personal_page, request, link, err.status, error=error, chosen=chosen)
    except TimeoutError:
        log.info("upload to %s took longer than %d s; nothing stored", link.folder,
                 portal.config.settings.intake.max_upload_seconds)
        return message(request, 408, "Uppladdningen tog för lång tid",
                       "Filen kom inte fram i tid och har inte sparats. Försök igen, gärna med en snabbare "
                       "uppkoppling eller en mindre fil.", headers={"Connection": "close"})
    except ClientDisconnect:
        log.info("upload to %s broken off by the client; nothing stored", link.folder)
        return Response(status_code=400)
    finally:
        if reader is not None:
            reader.close()
    shown = portal.shown(stored.key)
    log.info("upload stored: %s (%d bytes)", shown, received.size)
    await run_in_threadpool(tell_arrival, portal, shown)
    return RedirectResponse(f"./?{RECEIVED}={file_ref(stored.key, stored.etag)}", status_code=303)


async def drain(request: Request, limit: int) -> None:
    """Read what the client still sends of a refused upload, for a while, so it sees the answer."""
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


def tell_arrival(portal: Portal, key: str) -> None:
    """Call ``on_arrival`` with the key as shown (masked); the file is stored whatever
    happens (the schedule picks it up)."""
    try:
        portal.on_arrival(key)
    except Exception as exc:
        log.warning("could not tell Prefect that %s arrived: %s", key, type(exc).__name__)


def download(out: Storage, key: str | None, filename: str | None = None) -> Response:
    """A file of the outputs, streamed, opened as a document without script."""
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
    return StreamingResponse(iterate_in_threadpool(chunks()), media_type=draft_mime(kind),
                             headers=headers)


async def review_file(request: Request) -> Response:
    portal, link = portal_of(request), await link_of(request)
    if link.kind != PARTNER:
        raise HTTPException(404)
    name = request.path_params["name"]
    key = review_file_key(portal.config, link.name, name)
    filename = None
    if key and name.endswith(".docx"):
        filename = await run_in_threadpool(review_download_name, portal.inbox, portal.out, portal.config, link.name,
                                           name.rsplit(".", 1)[0])
    return await run_in_threadpool(download, portal.out, key, filename)


async def draft_file(request: Request) -> Response:
    portal, link = portal_of(request), await link_of(request)
    if link.kind == PARTNER:
        raise HTTPException(404)
    version, name = request.path_params["version"], request.path_params["name"]
    key = await run_in_threadpool(draft_file_key, portal.out, version, name)
    stem, fmt = name.rsplit(".", 1)
    filename = f"{stem}-{version}.{fmt}" if fmt != "html" else None
    return await run_in_threadpool(download, portal.out, key, filename)


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 404:
        return not_found(request)
    return message(request, exc.status_code, "Det gick inte", "Sidan kan inte användas på det sättet.",
                   headers=exc.headers)  # a 405 keeps its Allow


async def storage_down(request: Request, exc: Exception) -> Response:
    """The inbox or the outputs cannot be used now (a bucket away, a full disk, damaged
    links): a Swedish 503, and the reason in the log for the coordinator."""
    log.error("storage problem, answered 503: %s", exc)
    return message(request, 503, "Tjänsten är inte tillgänglig just nu",
                   "Det gick inte att nå filerna. Inget av det du skickade har gått förlorat: det som fick "
                   "beskedet ”Mottagen” är sparat.", "Försök igen om en stund. Kvarstår felet, kontakta samordnaren.",
                   headers={"Retry-After": "120"})


async def server_error(request: Request, exc: Exception) -> Response:
    """Anything unforeseen: a Swedish 500 page (the traceback goes to the log)."""
    return message(request, 500, "Något gick fel",
                   "Sidan kunde inte visas på grund av ett fel hos oss. Försök igen om en stund.",
                   "Kvarstår felet, kontakta samordnaren.")


ROUTES = [
    Route("/", home), Route("/stil.css", stylesheet), Route("/skript.js", script), Route("/health", health),
    Route("/l/{token}", bare), Route("/l/{token}/", personal),
    Route("/l/{token}/lamna", upload, methods=["POST"]),
    Route("/l/{token}/granskning/{name}", review_file),
    Route("/l/{token}/utkast/{version}/{name}", draft_file),
]


def create_app(inbox: str | Storage, out: str | Storage, config: Config,
               on_arrival: Callable[[str], None] = lambda key: None):
    """The application over these inbox and outputs (paths, URLs or storages)."""
    inbox = open_storage(inbox) if isinstance(inbox, (str, Path)) else inbox
    out = open_storage(out) if isinstance(out, (str, Path)) else out
    handlers = {HTTPException: http_error, StorageError: storage_down, LinksUnreadable: storage_down,
                Exception: server_error}
    app = Starlette(routes=ROUTES, exception_handlers=handlers)
    app.state.portal = Portal(inbox, out, config, on_arrival)
    clear_stale_uploads()
    return SecurityHeaders(app)
