"""An upload through a personal link: the form as it streams in, the checks, where it goes.

Nothing reaches the inbox before the whole file has arrived and passed every check: the body
is read into a private temporary file, counted as it comes (a client may send more than its
``Content-Length`` said, or none), and only then stored with ``Storage.create_file``, which
takes a name only if nobody has it (``link`` in a folder, ``If-None-Match: *`` on S3). So an
upload that got "Mottagen" is stored whole and alone, however many uploads of the same name
arrive at once: each gets the next free version (``name (2).docx`` …), and intake takes the
newest per piece. A name with a path part or control characters is refused, not changed;
reserved characters become ``_`` and long names are shortened before the extension (150
characters, 200 bytes).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tasks.core.errors import UtkastError
from tasks.core.formats import hidden
from tasks.core.parallel import process_running
from tasks.intake.screening import piece_from_name
from tasks.storage.base import Entry, KeyTaken, NameTooLong, Storage, safe_name

FILE_FIELD, PIECE_FIELD = "fil", "delrapport"
FORM_OVERHEAD = 64 * 1024  # what a form may carry besides the file: boundaries, headers, the piece
MAX_FIELD_BYTES = 1024
MAX_FIELDS = 8
MB = 1024 * 1024

REFUSALS = {
    "no_file": "Välj en fil att ladda upp.",
    "path_in_name": "Filnamnet innehåller en sökväg (till exempel ”../”, ”/” eller ”\\”). "
                    "Döp om filen så att namnet bara är filens eget namn och ladda upp den igen.",
    "control_characters": "Filnamnet innehåller osynliga styrtecken. Döp om filen och ladda upp den igen.",
    "hidden_name": "Filnamnet börjar med en punkt eller med ”~$” (en dold fil eller en tillfällig fil som Word "
                   "skapar). Välj själva dokumentet.",
    "empty_file": "Filen är tom. Välj dokumentet igen.",
    "too_large": "Filen är större än {limit} MB, som är gränsen. Gör bilderna mindre i Word (markera en bild, "
                 "välj fliken Bildformat och sedan Komprimera bilder) eller dela upp rapporten, och ladda upp den igen.",
    "name_too_long": "Filnamnet är för långt för att sparas. Ge filen ett kortare namn och ladda upp den igen.",
    "too_many_versions": "Det finns redan {n} filer med det namnet. Ge filen ett nytt namn och ladda upp den igen.",
    "unknown_piece": "Det finns ingen delrapport {piece} i dispositionen. Välj en delrapport i listan.",
    "piece_conflict": "Filnamnet börjar med delrapport {named}, men du valde {piece}. Välj samma delrapport som i "
                      "filnamnet, eller lämna valet tomt.",
    "folder_full": "Filen får inte plats: du har redan lämnat {used} MB och gränsen är {limit} MB. "
                   "Kontakta samordnaren, som kan ta bort gamla versioner eller höja gränsen.",
    "too_many_files": "Ladda upp en fil i taget.",
    "broken_form": "Uppladdningen kom inte fram hel. Försök igen.",
}
FIELD_OF = {"unknown_piece": PIECE_FIELD, "piece_conflict": PIECE_FIELD}  # the rest concern the file


class UploadRefused(UtkastError):
    """An upload that is not stored; ``code`` selects the Swedish message (:func:`refusal_message`)."""

    def __init__(self, code: str, **facts):
        self.code, self.facts = code, facts
        super().__init__(code)

    @property
    def status(self) -> int:
        return 413 if self.code in ("too_large", "folder_full") else 400

    @property
    def field(self) -> str:
        """The form field the message belongs to."""
        return FIELD_OF.get(self.code, FILE_FIELD)


def refusal_message(err: UploadRefused) -> str:
    """What the person sees, in Swedish."""
    facts = dict(err.facts)
    if "limit" in facts:
        facts["limit"] = facts["limit"] // MB
    if "used" in facts:
        facts["used"] = -(-facts["used"] // MB)  # a part of a megabyte counts as one
    return REFUSALS[err.code].format(**facts)


# --- names and places ---------------------------------------------------------------------

WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def check_file_name(name: str | None) -> str:
    """The name an upload is stored under, or :class:`UploadRefused`: no path parts
    (``../x``, ``a/b``, ``C:\\x``), no control characters, no hidden or lock files; reserved
    characters become ``_``; NFC; at most 150 characters, the extension kept."""
    if name is None or not name.strip():
        raise UploadRefused("no_file")
    if "/" in name or "\\" in name or WINDOWS_DRIVE.match(name) or name.strip() in (".", ".."):
        raise UploadRefused("path_in_name")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise UploadRefused("control_characters")
    if hidden([name.strip()]):
        raise UploadRefused("hidden_name")
    cleaned = safe_name(name, keep_suffix=True)
    if not cleaned:
        raise UploadRefused("no_file")
    return cleaned


def name_with_piece(name: str, piece: str | None, pieces) -> str:
    """``name``, starting with ``piece`` (one of ``pieces``) when one was chosen and the name
    does not already carry one; a name that carries another piece is refused."""
    if not piece:
        return name
    if piece not in pieces:
        raise UploadRefused("unknown_piece", piece=piece[:20])
    named = piece_from_name(name)
    if named is None:
        return safe_name(f"{piece} {name}", keep_suffix=True)
    if named != piece:
        raise UploadRefused("piece_conflict", named=named, piece=piece)
    return name


MAX_VERSIONS = 500  # files of one name in a folder; past that the partner is asked to rename


def version_name(name: str, n: int) -> str:
    """``name`` for its ``n``-th upload: ``name`` itself, then ``<stem> (2)<ext>`` …"""
    if n == 1:
        return name
    path = PurePosixPath(name)
    stem, suffix = (path.stem, path.suffix) if path.suffix and path.stem else (name, "")
    return safe_name(f"{stem} ({n}){suffix}", keep_suffix=True)


def store_new(store: Storage, folder: str, name: str, source: Path) -> Entry:
    """Store ``source`` in ``folder`` under ``name``, or its first free version: never over a
    file already in the inbox, and never two uploads under one name (each name is created
    exclusively; one that another upload took meanwhile is passed over). Returns its entry."""
    for n in range(1, MAX_VERSIONS + 1):
        key = f"{folder}/{version_name(name, n)}"
        if store.exists(key):
            continue
        try:
            return store.create_file(key, source)
        except KeyTaken:
            continue
        except NameTooLong:
            raise UploadRefused("name_too_long") from None
    raise UploadRefused("too_many_versions", n=MAX_VERSIONS)


def check_room(used: int, size: int, limit: int) -> None:
    """Refuse a file of ``size`` bytes into a folder that holds ``used`` bytes already when
    together they pass ``limit`` (``intake.max_folder_mb``)."""
    if used + size > limit:
        raise UploadRefused("folder_full", used=used, limit=limit)


def check_declared_length(content_length: str | None, max_file_bytes: int) -> None:
    """Refuse a request whose declared size is over the limit, before reading any of it."""
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        raise UploadRefused("broken_form") from None
    if declared > max_file_bytes + FORM_OVERHEAD:
        raise UploadRefused("too_large", limit=max_file_bytes)


# --- the form as it streams in ----------------------------------------------------------------


def upload_dir() -> Path:
    """Where uploads wait while they stream in: a private folder of this user's in the
    temporary folder; each file is named after the PID of the process receiving it."""
    folder = Path(tempfile.gettempdir()) / f"utkast-uploads-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def clear_stale_uploads(folder: Path | None = None) -> list[str]:
    """Remove what uploads of processes that no longer run left behind (a server killed
    mid-upload: partner data must not lie in the temporary folder for ever)."""
    removed = []
    for path in (folder or upload_dir()).iterdir():
        pid = path.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not process_running(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


@dataclass
class Received:
    """A complete form: its text fields and the one file, in a temporary file."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    path: Path | None = None
    size: int = 0


class FormReader:
    """Reads ``multipart/form-data`` chunk by chunk (:meth:`feed`, then :meth:`finish`),
    writing the file part to a private temporary file and refusing it the moment it grows
    past ``max_file_bytes``. :meth:`close` removes the temporary file."""

    def __init__(self, content_type: str | None, max_file_bytes: int):
        from python_multipart.multipart import MultipartParser, parse_options_header

        ctype, params = parse_options_header(content_type or "")
        if ctype != b"multipart/form-data" or not params.get(b"boundary"):
            raise UploadRefused("broken_form")
        self.max_file_bytes = max_file_bytes
        self.received = Received()
        self._part: dict | None = None
        self._header_name = self._header_value = b""
        self._files = 0
        self._ended = False
        self._fd, self._tmp = None, None
        self.parser = MultipartParser(params[b"boundary"], {
            "on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._end_part,
            "on_header_field": self._header_field, "on_header_value": self._header_value_cb,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_done, "on_end": self._end,
        })

    # python-multipart's callbacks
    def _begin(self):
        self._part = {"disposition": b"", "data": bytearray(), "file": False}

    def _header_field(self, data, start, end):
        self._header_name += data[start:end]

    def _header_value_cb(self, data, start, end):
        self._header_value += data[start:end]

    def _header_end(self):
        if self._header_name.strip().lower() == b"content-disposition":
            self._part["disposition"] = self._header_value
        self._header_name = self._header_value = b""

    def _headers_done(self):
        name, filename = _disposition(self._part["disposition"])
        self._part["name"] = name
        if filename is not None:
            self._files += 1
            if self._files > 1:
                raise UploadRefused("too_many_files")
            self._part["file"] = True
            self.received.filename = filename
            fd, tmp = tempfile.mkstemp(prefix=f"{os.getpid()}-", dir=upload_dir())
            self._fd, self._tmp = os.fdopen(fd, "wb"), Path(tmp)
        elif len(self.received.fields) >= MAX_FIELDS:
            raise UploadRefused("broken_form")

    def _data(self, data, start, end):
        chunk = data[start:end]
        if self._part["file"]:
            self.received.size += len(chunk)
            if self.received.size > self.max_file_bytes:
                raise UploadRefused("too_large", limit=self.max_file_bytes)
            self._fd.write(chunk)
        else:
            self._part["data"] += chunk
            if len(self._part["data"]) > MAX_FIELD_BYTES:
                raise UploadRefused("broken_form")

    def _end_part(self):
        if self._part["file"]:
            self._fd.close()
            self.received.path = self._tmp
        else:
            self.received.fields[self._part["name"]] = _decode(bytes(self._part["data"]))

    def _end(self):
        self._ended = True

    # the interface
    def feed(self, chunk: bytes) -> None:
        from python_multipart.exceptions import FormParserError

        try:
            self.parser.write(chunk)
        except FormParserError:
            raise UploadRefused("broken_form") from None

    def finish(self) -> Received:
        """The whole form; :class:`UploadRefused` when it ended early or holds no file."""
        from python_multipart.exceptions import FormParserError

        try:
            self.parser.finalize()
        except FormParserError:
            raise UploadRefused("broken_form") from None
        if not self._ended:
            raise UploadRefused("broken_form")
        if self.received.path is None or not (self.received.filename or "").strip():
            raise UploadRefused("no_file")
        if self.received.size == 0:
            raise UploadRefused("empty_file")
        return self.received

    def close(self) -> None:
        if self._fd is not None:
            self._fd.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _disposition(header: bytes) -> tuple[str, str | None]:
    """The field name and the file name (raw, as the browser sent it: a path in it must be
    seen, not stripped) of a part's ``Content-Disposition``."""
    params = {}
    for key, value in _PARAM.findall(_decode(header)):
        if "*" in key:  # RFC 7578 forbids the extended syntax in forms
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"')
        params[key.lower()] = value
    return params.get("name", ""), params.get("filename")


# --- storing --------------------------------------------------------------------------------


_FOLDERS: dict[str, threading.Lock] = {}
_FOLDERS_LOCK = threading.Lock()


def _folder_lock(store: Storage, folder: str) -> threading.Lock:
    with _FOLDERS_LOCK:
        return _FOLDERS.setdefault(store.describe(folder), threading.Lock())


def store_upload(store: Storage, folder: str, received: Received, piece: str | None, pieces,
                 max_folder_bytes: int) -> Entry:
    """Store a complete, checked upload in ``folder`` of the inbox; returns its entry.

    A file that would take the folder past ``max_folder_bytes`` is refused. Counting
    and storing take turns per folder in this process, so uploads arriving together cannot
    both pass the count; portals in several processes over one inbox can each let one file
    past the limit at the same moment (a bound, not a leak: each file is limited too)."""
    name = name_with_piece(check_file_name(received.filename), piece or None, pieces)
    with _folder_lock(store, folder):
        check_room(sum(e.size for e in store.list(f"{folder}/")), received.size, max_folder_bytes)
        return store_new(store, folder, name, received.path)
