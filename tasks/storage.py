"""Where files live: a local folder or an S3 bucket, behind one small interface.

:func:`open_storage` is the one place that picks the implementation from a URL
(``inbox``, ``/abs/path``, ``file:///path`` or ``s3://bucket/prefix``). Keys are
``/``-separated and relative to the storage root; a key that would leave the root
(``..``, absolute, empty segments) is refused with :class:`UnsafeKey`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import quote, unquote, urlparse

from tasks.errors import StorageError, UtkastError

DEFAULT_LINK_SECONDS = 7 * 24 * 3600
TEMPORARY = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")  # what LocalStorage writes before renaming


class UnsafeKey(UtkastError):
    """A key tries to leave its prefix: '..', an absolute path or an empty segment."""


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


class LocalStorage(Storage):
    """A folder on this machine."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def list(self, prefix: str = "") -> Iterator[Entry]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel = Path(dirpath).relative_to(self.root)
            for name in sorted(filenames):
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                except OSError:
                    continue
                if not path.is_file():
                    continue
                key = name if rel == Path(".") else f"{rel.as_posix()}/{name}"
                yield Entry(key, st.st_size, st.st_mtime, f"{st.st_size}-{st.st_mtime_ns}")

    def open(self, key: str) -> BinaryIO:
        # A symbolic link in a shared folder must not pull in a file from elsewhere.
        path = self._path(key).resolve()
        if not path.is_relative_to(self.root):
            raise UnsafeKey(f"{key} leads outside {self.root}")
        return open(path, "rb")

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"could not write {path}: {exc}") from exc

    def write_file(self, key: str, source: Path, content_type: str | None = None) -> None:
        """Copy a local file in atomically (used for rendered drafts)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        shutil.copyfile(source, tmp)
        os.replace(tmp, path)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, name: str = "build"):
        """An exclusive lock file in the root: a second build waits for the first."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{name}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self.remove_stale_temporaries()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def remove_stale_temporaries(self, older_than: float = 3600) -> list[str]:
        """Delete temporary files of writes that were killed half-way (``.<name>.<hex>.tmp``,
        older than ``older_than`` seconds so no write in progress is touched)."""
        removed, cutoff = [], time.time() - older_than
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for name in filenames:
                if TEMPORARY.fullmatch(name):
                    path = Path(dirpath) / name
                    try:
                        if path.lstat().st_mtime < cutoff:
                            path.unlink()
                            removed.append(path.relative_to(self.root).as_posix())
                    except OSError:
                        continue
        return removed

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def href(self, key: str, *, from_key: str | None = None, filename: str | None = None,
             expires: int = DEFAULT_LINK_SECONDS) -> str:
        if from_key is None:
            return str(self._path(key))
        rel = os.path.relpath(self._path(key), self._path(from_key).parent)
        return quote(Path(rel).as_posix())


def open_storage(url: str | os.PathLike) -> Storage:
    """The storage behind ``url``: a folder path, ``file://`` URL or ``s3://bucket/prefix``."""
    url = str(url)
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        from tasks.s3 import S3Storage  # boto3 is only imported when a bucket is used

        return S3Storage.from_url(url)
    if parsed.scheme == "file":
        return LocalStorage(unquote(parsed.path))
    if parsed.scheme in ("", ) or (len(parsed.scheme) == 1 and os.name == "nt"):
        return LocalStorage(url)
    raise StorageError(f"unsupported storage URL {url!r}: use a folder path or s3://bucket/prefix")


def scratch_dir(prefix: str = "utkast-") -> tempfile.TemporaryDirectory:
    """A private temporary folder for one step's intermediate files."""
    return tempfile.TemporaryDirectory(prefix=prefix)
