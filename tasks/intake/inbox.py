"""Intake: list the inbox, give every file a verdict, and pick the newest per piece.

Originals are only ever read. Unchanged files (same size and change token as in the
saved state) are not read again: their earlier screening is reused, which makes an
idle poll of a large inbox a listing and a comparison.
"""

from __future__ import annotations

import hashlib
import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

from tasks import __version__
from tasks.core.config import RESERVED_FOLDERS, Config
from tasks.core.errors import (
    HiddenFile,
    NoPartnerFolder,
    Rejected,
    UnknownPartner,
    UnknownPiece,
    UnsafeName,
)
from tasks.core.formats import hidden
from tasks.intake.reasons import explain
from tasks.intake.screening import piece_from_name, screen_file
from tasks.storage.base import Entry, Storage, UnsafeKey, check_key, safe_name
from tasks.storage.state import ScreeningMemory

log = logging.getLogger("utkast")
# Detail of a rejection that only the last-resort handler caught (the fuzz run counts them).
UNEXPECTED = "unexpected error in screening: "

# Top-level inbox folders that are not partners (reviewers' returned drafts live here).


@dataclass
class InboxFile:
    """One file in the inbox and what intake decided about it."""

    key: str
    size: int
    modified: float
    etag: str
    folder: str | None = None
    name: str = ""
    partner: str | None = None
    piece: str | None = None
    sha256: str | None = None
    kind: str | None = None
    encoding: str | None = None
    title_hint: str | None = None
    comments: list[dict] = field(default_factory=list)
    verdict: str = "pending"  # accepted | superseded | rejected
    reason_code: str | None = None
    reason: str | None = None  # Swedish, for the partner
    detail: str | None = None  # technical detail, for logs
    version: int | None = None

    @property
    def slot(self) -> tuple[str, str]:
        return (self.partner, self.piece)

    def reject(self, err: Rejected, config: Config) -> None:
        self.verdict = "rejected"
        self.reason_code = err.code
        self.detail = err.detail
        self.reason = explain(
            err,
            valid_pieces=list(config.outline.pieces),
            partners=[p.slug for p in config.registry.partners],
        )

    def to_json(self) -> dict:
        return asdict(self)


def screen_fingerprint(config: Config) -> str:
    """Screening results are reused only while code and settings are unchanged."""
    return hashlib.sha256(f"{__version__}|{config.fingerprint}".encode()).hexdigest()[:16]


def classify_path(entry: Entry, config: Config) -> InboxFile:
    """Partner and name from the key; raises ``Rejected`` for keys that cannot be a report."""
    f = InboxFile(entry.key, entry.size, entry.modified, entry.etag)
    parts = entry.key.split("/")
    f.name = parts[-1]
    f.folder = parts[0] if len(parts) > 1 else None
    try:
        check_key(entry.key)
    except UnsafeKey:
        raise UnsafeName(entry.key)
    if any(ord(ch) < 32 for ch in entry.key):
        raise UnsafeName(entry.key)
    if hidden(parts):
        raise HiddenFile(f.name)
    if f.folder is None:
        raise NoPartnerFolder(f.name)
    partner = config.registry.find(f.folder)
    if partner is None:
        raise UnknownPartner(f.folder, folder=unicodedata.normalize("NFC", f.folder))
    f.partner = partner.slug
    return f


def scan_inbox(inbox: Storage, config: Config, memory: ScreeningMemory) -> list[InboxFile]:
    """Every file in the inbox with a verdict: accepted (newest per piece), superseded or rejected.

    ``memory`` (the run state's screening section) is updated in place with what was
    learnt in this scan; files unchanged since it was made are not read again.
    """
    fingerprint = screen_fingerprint(config)
    if memory.fingerprint != fingerprint:
        memory.files.clear()
        memory.fingerprint = fingerprint
    known = memory.files
    entries = [e for e in inbox.list() if e.key.split("/", 1)[0] not in RESERVED_FOLDERS]

    seen, files = set(), []
    for entry in entries:
        try:
            f = screen_entry(inbox, entry, config, known)
        except FileNotFoundError:  # removed (or renamed by a sync client) since the listing
            continue
        seen.add(entry.key)
        files.append(f)
    for key in list(known):
        if key not in seen:
            del known[key]
    choose_newest(files)
    return sorted(files, key=lambda f: f.key)


def arrived_since(files: list[InboxFile], entries) -> list[Entry]:
    """Partner files listed in ``entries`` that the scan giving ``files`` did not see as they
    are now (new, or changed since: another change token), by key."""
    seen = {f.key: f.etag for f in files}
    return sorted((e for e in entries if e.key.split("/", 1)[0] not in RESERVED_FOLDERS and seen.get(e.key) != e.etag),
                  key=lambda e: e.key)


class Arrivals:
    """Whether a run that reviews should hand over to the next one: a file arrived in the inbox
    after ``files`` were listed and has waited ``after`` seconds, by when the run it started is
    on its way (the event trigger starts it ``schedule_after`` seconds after the file). Asked
    between reports, so that a new file's verdict need not wait for other reports' reviews, while
    the review goes on until then.

    The inbox is listed at most every ``every`` seconds (one LIST request on S3) until a file
    has arrived; from then on only the clock is read. ``clock`` is the wall clock the stored
    files' times are in.
    """

    def __init__(self, inbox: Storage, files: list[InboxFile], after: float = 20.0, every: float = 2.0,
                 clock: Callable[[], float] = time.time):
        self.inbox, self.files, self.after, self.every, self.clock = inbox, files, after, every, clock
        self.first: float | None = None  # when the earliest arrived file was stored
        self._listed = clock()

    def __call__(self) -> bool:
        now = self.clock()
        if self.first is None and now - self._listed >= self.every:
            self._listed = now
            arrived = arrived_since(self.files, self.inbox.list())
            if arrived:
                self.first = min(e.modified for e in arrived)
        return self.first is not None and now - self.first >= self.after


def screen_entry(inbox: Storage, entry: Entry, config: Config, known: dict) -> InboxFile:
    """The verdict for one listed object (reading it only if it changed since last time)."""
    try:
        f = classify_path(entry, config)
    except Rejected as err:
        f = InboxFile(entry.key, entry.size, entry.modified, entry.etag,
                      folder=entry.key.split("/")[0] if "/" in entry.key else None,
                      name=entry.key.rsplit("/", 1)[-1])
        f.reject(err, config)
        return f
    cached = known.get(entry.key)
    if _unchanged(cached, entry):
        result = cached
    else:
        result = _screen_bytes(inbox, f, config)
        result.update(etag=entry.etag, size=entry.size)
        known[entry.key] = result
    f.sha256 = result.get("sha256")
    named = piece_from_name(f.name)
    f.piece = named if named in config.outline.pieces else None  # so a rejection shows in its cell
    if "rejected" in result:
        code, detail, facts = result["rejected"]
        f.reject(Rejected.from_saved(code, detail, facts), config)
        return f
    f.kind, f.encoding = result["kind"], result.get("encoding")
    f.title_hint, f.comments = result.get("title"), result.get("comments", [])
    f.piece = named or result.get("piece_hint")
    if f.piece not in config.outline.pieces:
        f.reject(UnknownPiece(f.name), config)
        return f
    f.verdict = "accepted"
    return f


def _unchanged(cached: dict | None, entry: Entry) -> bool:
    """Whether a file is as it was when its screening was remembered (size and change token)."""
    return bool(cached) and cached["etag"] == entry.etag and cached["size"] == entry.size


def _screen_bytes(inbox: Storage, f: InboxFile, config: Config) -> dict:
    limits = config.settings.limits
    if f.size > limits.max_file_bytes:  # refused from the listing, without reading
        return {"rejected": ("too_large", "", {"size": f.size, "limit": limits.max_file_bytes})}
    try:
        data = inbox.read(f.key)
    except UnsafeKey as err:  # e.g. a link to a file outside the inbox
        return {"rejected": ("unsafe_name", str(err), {})}
    result = {"sha256": hashlib.sha256(data).hexdigest()}
    try:
        s = screen_file(f.name, data, limits)
    except Rejected as err:
        result["rejected"] = (err.code, err.detail, err.facts)
        return result
    except Exception as exc:  # a parser tripped on bytes nobody foresaw: the file, not the run, fails
        log.exception("screening %s failed unexpectedly", f.key)
        result["rejected"] = ("corrupt", f"{UNEXPECTED}{type(exc).__name__}: {exc}"[:500], {})
        return result
    result.update(kind=s.kind, encoding=s.encoding, piece_hint=s.piece_hint, title=s.title,
                  comments=s.comments)
    return result


def choose_newest(files: list[InboxFile]) -> None:
    """Per (partner, piece) the newest accepted file wins; number the versions oldest first."""
    slots: dict[tuple[str, str], list[InboxFile]] = {}
    for f in files:
        if f.verdict == "accepted":
            slots.setdefault(f.slot, []).append(f)
    for group in slots.values():
        group.sort(key=lambda f: (f.modified, f.name))
        for number, f in enumerate(group, start=1):
            f.version = number
            f.verdict = "accepted" if number == len(group) else "superseded"


def rejection_key(f: InboxFile, shown: str | None = None) -> str:
    """Where the reason for a rejected file goes: ``rejected/<partner>/<file>.txt``, named by
    the file's key as shown to others (``shown``, personal data masked: the key is listed in
    the tracker and seen by whoever lists the folder)."""
    if shown:
        folder_shown, _, name = shown.rpartition("/")
        folder_shown = folder_shown.split("/", 1)[0] or None
    else:
        folder_shown, name = f.folder, f.name
    folder = f.partner or safe_name(folder_shown) or "_inkorgen"
    return f"rejected/{folder}/{safe_name(name) or 'fil'}.txt"


def shown_reason(f: InboxFile, shown: str | None = None) -> str | None:
    """The Swedish reason as shown to others: a folder name it quotes is masked like the key."""
    if not f.reason or not shown or not f.folder or "/" not in shown:
        return f.reason
    return f.reason.replace(unicodedata.normalize("NFC", f.folder), shown.split("/", 1)[0])


def rejection_text(f: InboxFile, config: Config) -> str:
    """The Swedish note a partner reads next to a rejected file."""
    partner = config.registry.by_slug(f.partner).name if f.partner else (f.folder or "–")
    return (
        f"Filen togs inte emot\n"
        f"====================\n\n"
        f"Fil: {f.name}\n"
        f"Mapp: {partner}\n\n"
        f"Varför: {f.reason}\n\n"
        f"Originalfilen ligger kvar orörd i inkorgen. När du lägger in en rättad fil läses den in "
        f"vid nästa körning, och den här förklaringen försvinner.\n"
    )


def display_name(key: str) -> str:
    return PurePosixPath(key).name


def write_rejections(out: Storage, files: list[InboxFile], config: Config, notes: dict[str, str],
                     shown: dict[str, str] | None = None) -> int:
    """Write a Swedish note per rejected file; remove notes for files no longer rejected.
    ``notes`` (the run state's) records the notes written, by key, with their text's digest;
    ``shown`` gives the keys as shown to others (the notes are named by them)."""
    shown = shown or {}
    wanted = {}
    for f in files:
        if f.verdict == "rejected":
            wanted[rejection_key(f, shown.get(f.key))] = rejection_text(f, config)
    written = 0
    for key, text in wanted.items():
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        if notes.get(key) != digest:
            out.write(key, text.encode("utf-8"), "text/plain; charset=utf-8")
            notes[key] = digest
            written += 1
    for key in list(notes):
        if key not in wanted:
            out.delete(key)
            del notes[key]
    return written
