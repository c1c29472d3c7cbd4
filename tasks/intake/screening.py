"""Screening: decide what a file really is before any parser sees its bytes.

The real type comes from the bytes, never from the extension alone; size, archive
expansion, encryption and macros are checked here, and XML parts that declare a DOCTYPE
(external entities) are refused. Returns what the converter needs, or raises a
:class:`~tasks.core.errors.Rejected` subclass.
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field

from lxml import etree

from tasks.core.config import Limits
from tasks.core.errors import (
    ArchiveTooLarge,
    CorruptFile,
    EmptyFile,
    EncryptedDocument,
    FileTooLarge,
    MacroDocument,
    UnsafeContent,
    UnsupportedFormat,
)
from tasks.core.formats import accepted_format
from tasks.core.wordml import SAFE_XML

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAGIC = [  # (prefix, kind of the real type) for formats we refuse
    (b"%PDF", "pdf"),
    (b"\x89PNG", "image"), (b"\xff\xd8\xff", "image"), (b"GIF8", "image"),
    (b"II*\x00", "image"), (b"MM\x00*", "image"), (b"BM", "image"),
    (b"\x1f\x8b", "archive"), (b"7z\xbc\xaf\x27\x1c", "archive"), (b"Rar!", "archive"),
    (b"BZh", "archive"), (b"\xfd7zXZ\x00", "archive"),
]

CHUNK = 1 << 16
# A document type declaration in any XML part (entities can point at files or expand
# exponentially); searched in UTF-8 and UTF-16 spellings, upper-cased.
DTD_MARKERS = tuple(m.encode(enc) for m in ("<!DOCTYPE", "<!ENTITY")
                    for enc in ("ascii", "utf-16-le", "utf-16-be"))


@dataclass
class Screened:
    """What screening found out about an accepted file."""

    kind: str  # docx | odt | rtf | md | txt | html
    text: str | None = None  # decoded text for md/txt/html/rtf
    encoding: str | None = None
    piece_hint: str | None = None  # from front matter or document properties
    title: str | None = None
    comments: list[dict] = field(default_factory=list)


def screen_file(name: str, data: bytes, limits: Limits) -> Screened:
    """Check ``data`` (the whole file named ``name``) and say what it is, or raise ``Rejected``."""
    ext = extension(name)
    if not data:
        raise EmptyFile()
    if len(data) > limits.max_file_bytes:
        raise FileTooLarge(size=len(data), limit=limits.max_file_bytes)
    if ext == ".docm" or ext == ".dotm":
        raise MacroDocument("macro-enabled Word extension")
    real = sniff(data)
    if real == "ole":
        if _ole_encrypted(data):
            raise EncryptedDocument("OLE container with EncryptedPackage")
        raise UnsupportedFormat("OLE compound file", kind="doc" if ext in (".doc", ".dot", ".docx") else "ole")
    if real not in ("zip", "text", "rtf"):
        raise UnsupportedFormat(real, kind=real)
    accepted = accepted_format(ext)  # the extensions a partner may send: tasks/core/formats.py
    if accepted is None:
        raise UnsupportedFormat(f"extension {ext!r}", kind=_kind_from_extension(ext, real))
    if real == "zip":
        screened = _screen_zip(data, limits)
        if accepted.kind != screened.kind:
            raise UnsupportedFormat(f"{ext} holds {screened.kind}", kind="mismatch", real=screened.kind, ext=ext)
        return screened
    if accepted.content == "zip":
        raise UnsupportedFormat(f"{ext} holds {real}", kind="mismatch", real=real, ext=ext)
    text, encoding = decode_text(data)
    if real == "rtf":
        if accepted.content != "rtf":
            raise UnsupportedFormat(f"{ext} holds rtf", kind="mismatch", real="rtf", ext=ext)
        if re.search(r"\\objdata|\\objocx|\\objemb", text):
            raise UnsafeContent("RTF with embedded objects")
        return Screened("rtf", text=text, encoding=encoding)
    if accepted.content == "rtf":
        raise UnsupportedFormat(f"{ext} holds text", kind="mismatch", real="text", ext=ext)
    kind = accepted.kind
    screened = Screened(kind, text=text, encoding=encoding)
    if kind == "md":
        meta = front_matter(text)
        screened.piece_hint = _piece_text(meta.get("delrapport"))
        screened.title = meta.get("title") if isinstance(meta.get("title"), str) else None
    return screened


def extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def sniff(data: bytes) -> str:
    """The real type of ``data`` from its first bytes: zip, ole, rtf, text or a refused kind."""
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if data.startswith(OLE_MAGIC):
        return "ole"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{\\rtf"):
        return "rtf"
    for prefix, kind in MAGIC:
        if data.startswith(prefix):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" or data[4:8] == b"ftyp":
        return "image"
    try:
        decode_text(data)
    except UnsupportedFormat:
        return "binary"
    return "text"


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode plain text: BOM, UTF-16, UTF-8, else Windows-1252 / Latin-1. NFC-normalised."""
    if data.startswith(b"\xef\xbb\xbf"):
        text, enc = data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text, enc = data.decode("utf-16"), "utf-16"
    elif len(data) >= 4 and _looks_utf16(data):
        enc = "utf-16-le" if data[1] == 0 else "utf-16-be"
        text = data.decode(enc, errors="replace")
    else:
        try:
            text, enc = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            try:
                text, enc = data.decode("cp1252"), "windows-1252"
            except UnicodeDecodeError:
                text, enc = data.decode("latin-1"), "latin-1"
    controls = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\t\n\r\f")
    if "\x00" in text or controls > max(8, len(text[:20000]) // 50):
        raise UnsupportedFormat("binary data", kind="binary")
    return unicodedata.normalize("NFC", text), enc


def _looks_utf16(data: bytes) -> bool:
    sample = data[:4000]
    even, odd = sample[0::2], sample[1::2]
    return (odd.count(0) > len(odd) * 0.4 and even.count(0) < len(even) * 0.1) or (
        even.count(0) > len(even) * 0.4 and odd.count(0) < len(odd) * 0.1)


def _ole_encrypted(data: bytes) -> bool:
    return "EncryptedPackage".encode("utf-16-le") in data or "EncryptionInfo".encode("utf-16-le") in data


def _kind_from_extension(ext: str, real: str) -> str:
    if ext in (".doc", ".dot"):
        return "doc"
    if ext in (".pdf",):
        return "pdf"
    if ext in (".pages",):
        return "pages"
    if ext in (".xlsx", ".xls", ".ods", ".csv", ".pptx", ".ppt", ".odp"):
        return "spreadsheet"
    if ext in (".zip", ".7z", ".rar", ".gz", ".tar"):
        return "archive"
    return "extension"


# --- zip-based documents ----------------------------------------------------------------


def _screen_zip(data: bytes, limits: Limits) -> Screened:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise CorruptFile(f"zip: {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_archive_entries:
            raise ArchiveTooLarge(f"{len(infos)} entries", entries=len(infos), max_entries=limits.max_archive_entries)
        if any(info.flag_bits & 0x1 for info in infos):
            raise EncryptedDocument("zip entries are encrypted")
        names = {info.filename for info in infos}
        lower = {n.lower() for n in names}
        if any(n.endswith("vbaproject.bin") or n.endswith("vbadata.xml") for n in lower):
            raise MacroDocument("vbaProject.bin present")
        if sum(info.file_size for info in infos) > limits.max_expanded_bytes:
            raise ArchiveTooLarge("declared size over the limit", limit=limits.max_expanded_bytes)
        parts = _read_all(archive, infos, limits)
    if "[Content_Types].xml" in parts:
        types = parts["[Content_Types].xml"].decode("utf-8", "replace")
        if "macroEnabled" in types or "vbaProject" in types:
            raise MacroDocument("macro-enabled content type")
        if "wordprocessingml.document.main" in types:  # the main part may live at any path
            core = _xml_fields(parts.get("docProps/core.xml"), ("subject", "keywords", "title"))
            return Screened(
                "docx",
                piece_hint=_piece_text(core.get("subject")) or _piece_text(core.get("keywords")),
                title=core.get("title") or None,
                comments=docx_comments(parts.get("word/comments.xml")),
            )
        raise UnsupportedFormat("office file that is not a text document", kind="spreadsheet")
    mimetype = parts.get("mimetype", b"").decode("ascii", "replace").strip()
    if mimetype.startswith("application/vnd.oasis.opendocument"):
        manifest = parts.get("META-INF/manifest.xml", b"")
        if b"encryption-data" in manifest:
            raise EncryptedDocument("ODF encryption-data")
        if any(n.startswith(("basic/", "scripts/")) for n in lower):
            raise MacroDocument("ODF macros")
        if mimetype != "application/vnd.oasis.opendocument.text":
            raise UnsupportedFormat(mimetype, kind="spreadsheet")
        if "content.xml" not in parts:
            raise CorruptFile("no content.xml")
        meta = _xml_fields(parts.get("meta.xml"), ("subject", "keyword", "title"))
        return Screened(
            "odt",
            piece_hint=_piece_text(meta.get("subject")) or _piece_text(meta.get("keyword")),
            title=meta.get("title") or None,
        )
    if "index.xml" in lower or any(n.startswith("index/") for n in lower):
        raise UnsupportedFormat("Apple Pages", kind="pages")
    raise UnsupportedFormat("zip archive", kind="archive")


def _read_all(archive: zipfile.ZipFile, infos, limits: Limits) -> dict[str, bytes]:
    """Decompress every entry with a running cap; keep the small XML parts we need."""
    keep = {"[Content_Types].xml", "docProps/core.xml", "word/comments.xml", "mimetype",
            "META-INF/manifest.xml", "meta.xml"}
    parts, total = {}, 0
    for info in infos:
        if info.is_dir():
            continue
        buf = bytearray() if info.filename in keep else None
        # XML by name or by its first bytes (a docx may store its main part under any name);
        # svg images are passed through as pictures, never parsed as text.
        name = info.filename.lower()
        is_xml = name.endswith((".xml", ".rels"))
        sniff_xml = not is_xml and not name.endswith(".svg")
        tail, size, crc = b"", 0, 0
        try:
            for chunk in _inflate(archive, info):
                size, crc = size + len(chunk), zlib.crc32(chunk, crc)
                if sniff_xml:
                    is_xml, sniff_xml = _looks_like_xml(chunk), False
                total += len(chunk)
                if total > limits.max_expanded_bytes:
                    raise ArchiveTooLarge("expands past the limit", limit=limits.max_expanded_bytes)
                if is_xml:
                    window = tail + chunk
                    # Every marker has a "!" (in each encoding): most windows have none to look at.
                    if b"!" in window:
                        window = window.upper()
                        if any(marker in window for marker in DTD_MARKERS):
                            raise UnsafeContent(f"DOCTYPE in {info.filename}")
                    tail = chunk[-40:]
                if buf is not None:
                    buf += chunk
            if size != info.file_size or crc != info.CRC:
                raise CorruptFile(f"{info.filename}: size or checksum differs from the directory")
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise CorruptFile(f"{info.filename}: {exc}") from None
        except Exception as exc:  # zlib.error and friends from damaged data
            if isinstance(exc, (ArchiveTooLarge, UnsafeContent, CorruptFile)):
                raise
            raise CorruptFile(f"{info.filename}: {exc}") from None
        parts[info.filename] = bytes(buf) if buf is not None else b""
    return parts


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo):
    """The member's bytes, inflated from its compressed data in chunks.

    Sizes declared in the archive are not trusted: zipfile would stop at the declared size,
    while another unzipper (pandoc's) inflates all there is, so a member that lies about its
    size is inflated here as far as it really goes (and the running cap applies)."""
    fp = archive.fp
    fp.seek(info.header_offset)
    header = fp.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    if fp.read(name_len) != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
        raise zipfile.BadZipFile(f"local name differs for {info.filename}")
    fp.seek(extra_len, io.SEEK_CUR)
    if info.compress_type == zipfile.ZIP_STORED:
        inflater = None
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
    else:
        raise NotImplementedError(f"compression method {info.compress_type}")
    left = info.compress_size
    while left > 0:
        raw = fp.read(min(CHUNK, left))
        if not raw:
            raise EOFError(f"{info.filename} is cut short")
        left -= len(raw)
        if inflater is None:
            yield raw
            continue
        data = inflater.decompress(raw, CHUNK)
        while data:
            yield data
            data = inflater.decompress(inflater.unconsumed_tail, CHUNK) if inflater.unconsumed_tail else b""
    if inflater is not None:
        if rest := inflater.flush():
            yield rest


def _looks_like_xml(head: bytes) -> bool:
    """Whether a part starts like XML (UTF-8, or UTF-16 with or without a byte-order mark)."""
    head = head[:64]
    for bom, encoding in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            head = head[2:].decode(encoding, "ignore").encode("ascii", "ignore")
    if head[:1] == b"\0" or head[1:2] == b"\0":
        head = head.replace(b"\0", b"")
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _xml_fields(data: bytes | None, wanted: tuple[str, ...]) -> dict[str, str]:
    if not data:
        return {}
    try:
        root = etree.fromstring(data, SAFE_XML)
    except etree.XMLSyntaxError:
        return {}
    found = {}
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        if local in wanted and local not in found:
            text = "".join(el.itertext()).strip()
            if text:
                found[local] = text
    return found


def docx_comments(data: bytes | None) -> list[dict]:
    """Comments of a Word document (kept out of the text, kept in the metadata)."""
    if not data:
        return []
    try:
        root = etree.fromstring(data, SAFE_XML)
    except etree.XMLSyntaxError:
        return []
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    comments = []
    for el in root.iter(f"{w}comment"):
        comments.append({
            "author": el.get(f"{w}author", ""),
            "date": el.get(f"{w}date", ""),
            "text": " ".join(" ".join(p.itertext()).strip() for p in el.iter(f"{w}p")).strip(),
        })
    return comments


# --- piece ids from names and metadata ---------------------------------------------------

NAME_PIECE = re.compile(r"^\s*(?:p(?:aket)?\s*[-_.]?\s*)?([1-9])\s*[.,_-]\s*([1-9])(?![0-9])", re.I)
ANY_PIECE = re.compile(r"(?<![0-9.])([1-9])\.([1-9])(?![0-9])")


def piece_from_name(name: str) -> str | None:
    """``1.3 Kvalitet.docx``, ``P1.3-kvalitet.docx``, ``Paket 1.3 …`` -> ``"1.3"``."""
    m = NAME_PIECE.match(unicodedata.normalize("NFC", name))
    return f"{m.group(1)}.{m.group(2)}" if m else None


def _piece_text(value) -> str | None:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return None  # lists/maps from YAML are ignored (and never stringified whole)
    m = ANY_PIECE.search(str(value)[:200])
    return f"{m.group(1)}.{m.group(2)}" if m else None


FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)


def strip_front_matter(text: str) -> str:
    """Markdown without its front matter: YAML is read here, safely, and never by pandoc
    (whose YAML reader expands aliases without bound)."""
    return FRONT_MATTER.sub("", text, count=1)


def front_matter(text: str) -> dict:
    """The YAML front matter of a Markdown file, or {} (never raises)."""
    import yaml

    m = FRONT_MATTER.match(text)
    if not m:
        return {}
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}
