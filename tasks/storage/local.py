"""Storage in a local folder (the embedded default)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import quote

from tasks.core.errors import StorageError
from tasks.storage.base import (
    DEFAULT_LINK_SECONDS,
    TEMPORARY,
    Entry,
    KeyTaken,
    NameTooLong,
    Storage,
    UnsafeKey,
    check_key,
)


def _walk(folder: str, key_prefix: str) -> Iterator[Entry]:
    """The files under ``folder`` (a file linked to counts, a linked folder is not entered), in
    name order, a folder's files before its folders. One ``stat`` a file: listing the outputs of
    a large build is done several times a run."""
    try:
        with os.scandir(folder) as found:
            entries = sorted(found, key=lambda e: e.name)
    except OSError:  # gone or unreadable, as os.walk passes over it
        return
    folders = []
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry)
                continue
            st = entry.stat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            yield Entry(key_prefix + entry.name, st.st_size, st.st_mtime, f"{st.st_size}-{st.st_mtime_ns}")
    for entry in folders:
        yield from _walk(entry.path, f"{key_prefix}{entry.name}/")


class LocalStorage(Storage):
    """A folder on this machine."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def list(self, prefix: str = "") -> Iterator[Entry]:
        base = self.root / prefix if prefix else self.root  # not a folder: _walk finds nothing
        rel = base.relative_to(self.root).as_posix()
        yield from _walk(str(base), "" if rel == "." else rel + "/")

    def open(self, key: str) -> BinaryIO:
        # A symbolic link in a shared folder must not pull in a file from elsewhere.
        path = self._path(key).resolve()
        if not path.is_relative_to(self.root):
            raise UnsafeKey(f"{key} leads outside {self.root}")
        return open(path, "rb")

    @contextlib.contextmanager
    def _staged(self, path: Path):
        """A new temporary file beside ``path`` (a short name, whatever the length of
        ``path``'s), open for writing and locked (``flock``) until it has been moved or linked
        into place: a lock the kernel drops when the writer dies, which is how
        :meth:`remove_stale_temporaries` tells a killed write from one in progress. Whatever
        is left of it is removed at the end, and a failure of the file system becomes a
        storage error."""
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                name = path.parent / f".utkast.{secrets.token_hex(4)}.tmp"
                try:
                    fh = open(name, "xb")
                except FileExistsError:
                    continue  # another write's name
                tmp = name
                fcntl.flock(fh, fcntl.LOCK_EX)
                if os.fstat(fh.fileno()).st_nlink:
                    break
                fh.close()  # taken for a dead write's between open and lock: a new name
                tmp = None
            with fh:
                yield tmp, fh
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise NameTooLong(f"{path.name!r} is too long for the file system") from exc
            raise StorageError(f"could not write {path}: {exc}") from exc
        finally:
            # When the folder itself could not be made there is nothing to clear, and the
            # clean-up must not hide the error above.
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)

    @staticmethod
    def _fill(fh: BinaryIO, data: bytes | None = None, source: Path | None = None) -> None:
        """Write ``data`` or the contents of ``source`` into ``fh`` and make them durable."""
        if source is None:
            fh.write(data)
        else:
            with open(source, "rb") as src:
                shutil.copyfileobj(src, fh, 1 << 20)
        fh.flush()
        os.fsync(fh.fileno())

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        path = self._path(key)
        with self._staged(path) as (tmp, fh):
            self._fill(fh, data)
            os.replace(tmp, path)

    def write_file(self, key: str, source: Path, content_type: str | None = None) -> None:
        """Copy a local file in atomically (used for rendered drafts)."""
        path = self._path(key)
        with self._staged(path) as (tmp, fh):
            self._fill(fh, source=source)
            os.replace(tmp, path)

    def create_file(self, key: str, source: Path, content_type: str | None = None) -> Entry:
        """Copy in under a temporary name, then ``link`` it to ``key``: the link fails when
        the name exists, so of two writers exactly one gets the name."""
        path = self._path(key)
        try:
            with self._staged(path) as (tmp, fh):
                self._fill(fh, source=source)
                os.link(tmp, path)
        except FileExistsError:
            raise KeyTaken(key) from None
        st = path.stat()
        return Entry(key, st.st_size, st.st_mtime, f"{st.st_size}-{st.st_mtime_ns}")

    def update(self, key: str, change, content_type: str | None = None) -> bytes:
        """Under an exclusive lock (``fcntl.flock`` on ``.locks/<key digest>``): read, change,
        write atomically."""
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(check_key(key).encode("utf-8")).hexdigest()[:32]
        with open(locks / name, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    current = self._path(key).read_bytes()
                except FileNotFoundError:
                    current = None
                new = change(current)
                self.write(key, new, content_type)
                return new
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, name: str = "build"):
        """An exclusive lock file in the root: a second build waits for the first."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{name}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self.remove_stale_temporaries()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def remove_stale_temporaries(self) -> list[str]:
        """Delete temporary files of writes that were killed half-way (``.<name>.<hex>.tmp``
        whose writer no longer holds its lock), at once; a write in progress keeps its lock
        and its file. Names are taken only under the lock just won, so a write that starts
        with the same name meanwhile is never hit."""
        removed = []
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for name in filenames:
                if not TEMPORARY.fullmatch(name):
                    continue
                path = Path(dirpath) / name
                try:
                    with open(path, "rb") as fh:
                        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: in use
                        if os.path.samestat(os.fstat(fh.fileno()), path.lstat()):
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

