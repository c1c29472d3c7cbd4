"""``utkast serve``: the partners' and reviewers' pages (:mod:`tasks.portal.app`) on uvicorn.

Wiring only: the application over the inbox and outputs, told to send ``inbox.file.arrived``
to Prefect (as ``utkast watch`` does) when an upload is stored and a Prefect API is configured.
It says in its log, at the start and whenever it changes (checked every minute), whether a
Prefect server will read the uploads as they arrive (:func:`flows.prefect_api.upload_processing`).
Run it on 127.0.0.1 behind a TLS proxy (docs).
"""

from __future__ import annotations

import logging
import threading

from flows.progress import log
from tasks.core.config import Config, load_config
from flows.prefect_api import Processing, upload_processing
from tasks.portal.app import create_app
from tasks.portal.web import HideTokens
from flows.storage import open_storage


def arrival_notifier(inbox_url: str, out_url: str):
    """``on_arrival`` for the portal: an ``inbox.file.arrived`` event when a Prefect API is set."""
    from prefect.settings import get_current_settings

    from flows.watch import emit_arrival

    def on_arrival(key: str) -> None:
        if get_current_settings().api.url:
            emit_arrival(key, inbox_url, out_url)

    return on_arrival


def make_app(inbox: str, out: str, config: Config | None = None):
    """The portal's application, wired to Prefect."""
    inbox_store, out_store = open_storage(inbox), open_storage(out)
    return create_app(inbox_store, out_store, config or load_config(),
                      on_arrival=arrival_notifier(inbox_store.url, out_store.url))


class ProcessingWatch:
    """Whether uploads are read as they arrive, asked every ``every`` seconds in a daemon
    thread; a warning in the log when they are not (once per change), a line when they are
    again. ``latest`` is the last answer."""

    def __init__(self, check=upload_processing, every: float = 60.0):
        self.check, self.every = check, every
        self.latest: Processing | None = None
        self.stop = threading.Event()

    def look(self) -> Processing:
        found = self.check()
        if self.latest is None or found != self.latest:
            if found.ok:
                log.info("portal: %s", found.line)
            else:
                log.warning("portal: %s", found.line)
        self.latest = found
        return found

    def start(self) -> None:
        self.look()

        def again() -> None:
            while not self.stop.wait(self.every):
                try:
                    self.look()
                except Exception:  # never stops the portal
                    log.exception("portal: could not ask whether uploads are processed")

        threading.Thread(target=again, name="processing-watch", daemon=True).start()


def serve(inbox: str, out: str, host: str = "127.0.0.1", port: int = 8080, *, ready=None) -> None:
    """Run the service until interrupted (uvicorn; X-Forwarded-* trusted from 127.0.0.1 only)."""
    import uvicorn

    config = uvicorn.Config(make_app(inbox, out), host=host, port=port, proxy_headers=True,
                            forwarded_allow_ips="127.0.0.1", server_header=False, log_level="info")
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(HideTokens())
    if ready:
        ready(f"http://{host}:{port}")
    watch = ProcessingWatch()
    watch.start()
    try:
        uvicorn.Server(config).run()
    finally:
        watch.stop.set()
