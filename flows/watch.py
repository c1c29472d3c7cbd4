"""``utkast watch``: watch a local inbox and tell Prefect when a partner file arrives.

Each new or changed file becomes an ``inbox.file.arrived`` event (resource
``utkast.inbox.<partner folder>``, payload: the file's key with personal data in the name
masked, the inbox and the outputs; Prefect keeps events in its database). The
``inbox-watch`` deployment has a trigger on that event (prefect.yaml), debounced so that a
burst of files gives one run; its five-minute schedule stays as the safety net. A bucket
can send the same event (see the README: S3 event notifications).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Iterable

from tasks.core.config import RESERVED_FOLDERS, load_config
from tasks.core.errors import UtkastError
from tasks.core.formats import hidden
from tasks.personal.filenames import mask_key
from tasks.personal.rules import load_rules

EVENT = "inbox.file.arrived"
RESOURCE_PREFIX = "utkast.inbox."
ROOT_RESOURCE = "_"  # files dropped directly in the inbox, outside a partner folder


def arrival_event(key: str, inbox: str, out: str) -> dict:
    """The event (as keyword arguments of ``prefect.events.emit_event``) for one file."""
    folder = key.split("/", 1)[0] if "/" in key else ROOT_RESOURCE
    return {
        "event": EVENT,
        "resource": {"prefect.resource.id": f"{RESOURCE_PREFIX}{folder}",
                     "prefect.resource.name": folder},
        "payload": {"key": key, "inbox": inbox, "out": out},
    }


def arrived_keys(changes: Iterable[tuple[object, str]], root: Path) -> list[str]:
    """Inbox keys of files added or modified in ``changes`` (watchfiles' set of
    ``(Change, path)``); deletions, folders, editors' lock and temporary files are left out."""
    from watchfiles import Change

    keys = set()
    for change, path in changes:
        if change not in (Change.added, Change.modified):
            continue
        p = Path(path)
        try:
            rel = p.relative_to(root)
        except ValueError:
            continue
        if not p.is_file() or hidden(rel.parts):
            continue
        if rel.parts[0] in RESERVED_FOLDERS:
            continue
        keys.add(rel.as_posix())
    return sorted(keys)


def emit_arrival(key: str, inbox: str, out: str):
    """Send one ``inbox.file.arrived`` event to the Prefect API (PREFECT_API_URL)."""
    from prefect.events import emit_event

    return emit_event(**arrival_event(key, inbox, out))


def check_api() -> str:
    """The Prefect API the events go to; a clear error when none is configured."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise UtkastError("no Prefect server to send events to: start one with `python3 dev.py stack up`, "
                          "or set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)")
    return url


def watch_inbox(inbox: str | Path, out: str | Path, *, stop_event: threading.Event | None = None,
                on_arrival: Callable[[str], None] = lambda key: None) -> None:
    """Watch ``inbox`` (a local folder) until stopped; emit an event per arrived file."""
    from prefect.events.worker import EventsWorker
    from watchfiles import watch

    root = Path(inbox).resolve()
    if not root.is_dir():
        raise UtkastError(f"{root} is not a folder; `utkast watch` watches a local inbox "
                          "(a bucket sends events itself: see the README)")
    out_url = str(out) if "://" in str(out) else str(Path(out).resolve())
    config = load_config()
    rules = load_rules(config.templates, config.registry)
    try:
        for changes in watch(root, stop_event=stop_event, recursive=True):
            for key in arrived_keys(changes, root):
                emit_arrival(mask_key(key, rules), str(root), out_url)
                on_arrival(key)
    finally:
        EventsWorker.drain_all()
