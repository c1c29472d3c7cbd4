"""The storage interface: keys, listings, and what every storage can do."""

from __future__ import annotations

import contextlib
import re
import tempfile
import threading
import unicodedata
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator
from urllib.parse import quote

from tasks.core.errors import UtkastError

DEFAULT_LINK_SECONDS = 7 * 24 * 3600
TEMPORARY = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")  # what LocalStorage writes before renaming


class UnsafeKey(UtkastError):
    """A key tries to leave its prefix: '..', an absolute path or an empty segment."""


class KeyTaken(UtkastError):
    """:meth:`Storage.create_file` found the key taken: nothing was written."""


class NameTooLong(UtkastError):
    """The storage refuses a key as too long (a file system counts bytes): nothing was written."""


UPDATE_ATTEMPTS = 50  # how often :meth:`Storage.update` tries again when another writer came first


@dataclass(frozen=True)
class Entry:
    """One stored object as listed: enough to notice a change without reading it."""

    key: str
    size: int
    modified: float
    etag: str


def check_key(key: str) -> str:
    """Return ``key`` if it stays inside its root, else raise :class:`UnsafeKey` saying why."""
    if not key:
        raise UnsafeKey("an empty key")
    if key.startswith("/"):
        raise UnsafeKey(f"{key!r} is absolute (starts with '/')")
    if "\\" in key or "\x00" in key:
        raise UnsafeKey(f"{key!r} contains a backslash or NUL")
    parts = key.split("/")
    if ".." in parts or "." in parts:
        raise UnsafeKey(f"{key!r} has a '.' or '..' segment")
    if "" in parts:
        raise UnsafeKey(f"{key!r} has an empty segment ('//' or a trailing '/')")
    return key


MAX_NAME = 150  # characters of one key segment made by safe_name
# ... and bytes in UTF-8: file systems count bytes (255 at most), "å" takes two and an emoji
# four; what utkast adds to a name (" (12)", ".txt" of a rejection) stays within the rest.
MAX_NAME_BYTES = 200


def _fit(text: str, chars: int, size: int) -> str:
    """The longest start of ``text`` of at most ``chars`` characters and ``size`` UTF-8 bytes."""
    text = text[:chars]
    while len(text.encode("utf-8")) > size:
        text = text[:-1]
    return text


def safe_name(name: str | None, *, keep_suffix: bool = False) -> str:
    """``name`` as one safe key segment: no path separators, control or reserved characters
    (each becomes ``_``), no leading or trailing dots and spaces, NFC, at most 150 characters
    and 200 UTF-8 bytes; "" when nothing is left. With ``keep_suffix`` a long name is
    shortened before its extension (``.docx`` stays), so the shortened file still opens as
    what it is."""
    if not name:
        return ""
    cleaned = "".join(ch if ch.isprintable() and ch not in '/\\:*?"<>|' else "_" for ch in name)
    cleaned = unicodedata.normalize("NFC", cleaned.strip(" ."))
    if len(cleaned) <= MAX_NAME and len(cleaned.encode("utf-8")) <= MAX_NAME_BYTES:
        return cleaned
    stem, dot, suffix = cleaned.rpartition(".")
    if keep_suffix and dot and stem and 0 < len(suffix) <= 10:
        room = len(suffix.encode("utf-8")) + 1
        return _fit(stem, MAX_NAME - len(suffix) - 1, MAX_NAME_BYTES - room).rstrip(" .") + "." + suffix
    return _fit(cleaned, MAX_NAME, MAX_NAME_BYTES)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the real name per RFC 6266/5987."""
    name = unicodedata.normalize("NFC", filename)
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(ch if ch.isprintable() and ch not in '"\\;' else "_" for ch in fallback).strip() or "fil"
    if fallback == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class Storage(ABC):
    """A flat namespace of keys holding bytes."""

    url: str
    links_expire = False  # True where href() gives links that stop working (presigned URLs)

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[Entry]:
        """Every object under ``prefix`` (recursively), in no particular order."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object (streamed, not read whole)."""

    def read(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def read_text(self, key: str) -> str | None:
        """The object decoded as UTF-8, or None if it does not exist."""
        try:
            return self.read(key).decode("utf-8")
        except FileNotFoundError:
            return None

    @abstractmethod
    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store ``data`` under ``key`` atomically: a reader sees the old or the new object."""

    def write_file(self, key: str, source: Path, content_type: str | None = None) -> None:
        """Store a local file under ``key`` (implementations stream it rather than load it)."""
        self.write(key, Path(source).read_bytes(), content_type)

    @abstractmethod
    def create_file(self, key: str, source: Path, content_type: str | None = None) -> Entry:
        """Store a local file under ``key`` only if no object has that key, atomically with
        any number of other writers (processes, machines): :class:`KeyTaken` otherwise, and
        nothing is written. A reader never sees it half-written. Returns the new object's
        entry (as a listing would give it)."""

    @abstractmethod
    def update(self, key: str, change: Callable[[bytes | None], bytes], content_type: str | None = None) -> bytes:
        """Read-modify-write ``key`` so that no other writer's change is lost: ``change`` gets
        the current bytes (None when absent) and returns the new ones; it may be called again
        when another writer came first, so it must only compute. Returns what was written."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove a derived output. Never called on the inbox."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def href(self, key: str, *, from_key: str | None = None, filename: str | None = None,
             expires: int = DEFAULT_LINK_SECONDS) -> str:
        """A link a person can open: a relative path from ``from_key`` (local pages),
        a file path (local, no ``from_key``) or a presigned URL (S3)."""

    def lock(self, name: str = "build"):
        """Serialise builds that share these outputs. No-op where the store cannot lock."""
        return contextlib.nullcontext()

    def describe(self, key: str = "") -> str:
        """Human-readable location of ``key`` for messages."""
        return f"{self.url.rstrip('/')}/{key}" if key else self.url


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _side_by_side() -> ThreadPoolExecutor:
    """The threads that read and write objects side by side, made once per process (making
    threads for each report's two or three writes cost more than the writes). Only single
    reads and writes run on it, never something that waits for it."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(8, thread_name_prefix="utkast-io")
        return _POOL


def write_all(store: Storage, items: list[tuple[str, bytes, str | None]]) -> None:
    """Write several objects side by side, each as :meth:`Storage.write` does (a local
    write waits for the disk, an S3 one for the service: one at a time that adds up).
    Returns when every one is written; the first failure is raised."""
    if len(items) <= 1:
        for key, data, content_type in items:
            store.write(key, data, content_type)
        return
    for future in [_side_by_side().submit(store.write, *item) for item in items]:
        future.result()


def read_all(store: Storage, keys: list[str]) -> list[bytes]:
    """Several objects, read side by side (a bucket answers each request after a round trip),
    in the order of ``keys``."""
    if len(keys) <= 1:
        return [store.read(k) for k in keys]
    return [f.result() for f in [_side_by_side().submit(store.read, k) for k in keys]]


def read_present(store: Storage, keys: list[str]) -> list[bytes | None]:
    """:func:`read_all`, with None for each object that does not exist."""
    def read(key: str) -> bytes | None:
        try:
            return store.read(key)
        except FileNotFoundError:
            return None

    if len(keys) <= 1:
        return [read(k) for k in keys]
    return [f.result() for f in [_side_by_side().submit(read, k) for k in keys]]


def scratch_dir(prefix: str = "utkast-") -> tempfile.TemporaryDirectory:
    """A private temporary folder for one step's intermediate files."""
    return tempfile.TemporaryDirectory(prefix=prefix)
