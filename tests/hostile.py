"""Hostile, broken and strange inbox files, built in code (no binary fixtures in the repo).

Used by the hostile-input tests, the fault tests and ``scripts/fuzz_intake.py``; nothing here
depends on pytest, so an S3 test can put the same files into a bucket.

* :func:`make_canary` writes a secret file outside the inbox; :func:`hostile_cases` try to pull
  it into the outputs through every route a document format offers (XML entities, linked
  images, ``file://`` URLs, Markdown images, raw HTML, RTF fields).
* :class:`CountingServer` is an HTTP server on 127.0.0.1 that counts requests: documents
  point images and frames at it, and the count must stay zero.
* :func:`find_token` looks for a token in every output file, including inside zip members,
  base64 ``data:`` URIs and the text of PDFs.
"""

from __future__ import annotations

import base64
import binascii
import http.server
import io
import os
import random
import re
import secrets
import threading
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from tests.builders import make_docx, make_png, rezip

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


# --- the canary and the request counter -------------------------------------------------


@dataclass(frozen=True)
class Canary:
    """A secret file outside the inbox; its token must never appear in any output."""

    path: Path
    token: str

    @property
    def url(self) -> str:
        return self.path.as_uri()


def make_canary(folder: Path) -> Canary:
    folder.mkdir(parents=True, exist_ok=True)
    token = f"KANARIE{secrets.token_hex(12).upper()}"
    path = folder / "canary-secret.txt"
    path.write_text(f"{token}\n", encoding="utf-8")
    return Canary(path, token)


class CountingServer:
    """An HTTP server on 127.0.0.1 that answers every GET with an image and counts requests.

    Use as a context manager; ``url`` is its base URL and ``requests`` the paths asked for.
    """

    def __init__(self, body: bytes | None = None):
        self.requests: list[str] = []
        body = body if body is not None else make_png()
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "CountingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- builders for hostile documents ------------------------------------------------------


def docx_part(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read(name)


def _image_rel_id(data: bytes) -> str:
    rels = docx_part(data, "word/_rels/document.xml.rels").decode("utf-8")
    for rel in re.findall(r"<Relationship [^>]*/>", rels):
        if "relationships/image" in rel:
            return re.search(r'Id="([^"]+)"', rel).group(1)
    raise ValueError("no image relationship")


def docx_with_external_images(text: str, targets: list[str]) -> bytes:
    """A .docx whose pictures are *linked*, not embedded: one relationship per target with
    ``TargetMode="External"`` (as Word writes for Insert picture → Link to file), used both as
    ``r:embed`` and as ``r:link`` of a picture."""
    base = make_docx([text], image=True)
    rid = _image_rel_id(base)
    rels = docx_part(base, "word/_rels/document.xml.rels").decode("utf-8")
    document = docx_part(base, "word/document.xml").decode("utf-8")
    new_rels = []
    blips = []
    for i, target in enumerate(targets):
        ext_id = f"rIdExt{i}"
        new_rels.append(f'<Relationship Id="{ext_id}" Type="{R_NS}/image" Target="{target}" TargetMode="External"/>')
        blips.append(ext_id)
    rels = rels.replace("</Relationships>", "".join(new_rels) + "</Relationships>")
    # The original picture now points at the first external target (embed); later pictures
    # copy its drawing and use r:link, which is how Word stores a linked picture.
    document = document.replace(f'r:embed="{rid}"', f'r:embed="{blips[0]}"')
    drawing = re.search(r"<w:drawing>.*?</w:drawing>", document, re.S).group(0)
    extra = "".join(
        "<w:p><w:r>" + drawing.replace(f'r:embed="{blips[0]}"', f'r:link="{b}"') + "</w:r></w:p>"
        for b in blips[1:])
    document = document.replace("</w:body>", "", 1).replace("<w:sectPr", extra + "<w:sectPr", 1)
    if "</w:body>" not in document:
        document = document.replace("</w:document>", "</w:body></w:document>")
    # Drop the embedded picture so only external references remain.
    rels = re.sub(r'<Relationship Id="%s"[^>]*/>' % rid, "", rels)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename.startswith("word/media/"):
                continue
            body = src.read(info.filename)
            if info.filename == "word/_rels/document.xml.rels":
                body = rels.encode("utf-8")
            elif info.filename == "word/document.xml":
                body = document.encode("utf-8")
            dst.writestr(info.filename, body)
    return out.getvalue()


def docx_with_fields(text: str, canary: Canary, server_url: str) -> bytes:
    """A .docx with fields that, in Word, pull in other files: INCLUDETEXT, INCLUDEPICTURE
    (simple and complex fields) and an altChunk pointing at an external file."""
    base = make_docx([text])
    document = docx_part(base, "word/document.xml").decode("utf-8")
    fields = (
        f'<w:p><w:fldSimple w:instr=" INCLUDETEXT &quot;{canary.path}&quot; "><w:r><w:t>[infogad text]</w:t></w:r></w:fldSimple></w:p>'
        f'<w:p><w:fldSimple w:instr=" INCLUDEPICTURE &quot;{server_url}/field.png&quot; \\d "><w:r><w:t>[bild]</w:t></w:r></w:fldSimple></w:p>'
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        f'<w:r><w:instrText xml:space="preserve"> INCLUDEPICTURE "{canary.url}" \\d </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>[fältbild]</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
        '<w:altChunk r:id="rIdChunk"/>'
    )
    document = document.replace("<w:sectPr", fields + "<w:sectPr", 1)
    rels = docx_part(base, "word/_rels/document.xml.rels").decode("utf-8").replace(
        "</Relationships>",
        f'<Relationship Id="rIdChunk" Type="{R_NS}/aFChunk" Target="{canary.url}" TargetMode="External"/>'
        "</Relationships>")
    return rezip(base, replace={"word/document.xml": document.encode("utf-8"),
                                "word/_rels/document.xml.rels": rels.encode("utf-8")})


def docx_with_xxe(text: str, canary: Canary, *, part: str = "word/document.xml") -> bytes:
    """A .docx whose document part declares an external entity pointing at the canary and
    uses it in the text. With ``part`` another name, the main part is moved there first (a
    docx may keep its main part at any path its content types name)."""
    base = make_docx([text + " &xxe;"]).replace(b"&amp;xxe;", b"&xxe;")
    document = docx_part(base, "word/document.xml")
    doctype = f'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "{canary.url}">]>'.encode()
    evil = document.replace(b"&amp;xxe;", b"&xxe;").replace(b"?>", b"?>" + doctype, 1)
    if part == "word/document.xml":
        return rezip(base, replace={"word/document.xml": evil})
    return move_main_part(rezip(base, replace={"word/document.xml": evil}), part)


def move_main_part(data: bytes, part: str) -> bytes:
    """The same .docx with its main document part stored as ``part`` (content types,
    package relationships and the part's own relationships follow)."""
    folder, name = part.rsplit("/", 1)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            target = info.filename
            if info.filename == "word/document.xml":
                target = part
            elif info.filename == "word/_rels/document.xml.rels":
                target = f"{folder}/_rels/{name}.rels"
                body = re.sub(rb'Target="(?!\.\./|https?:|file:)([^"]+)"', rb'Target="/word/\1"', body)
            elif info.filename == "[Content_Types].xml":
                body = body.replace(b'PartName="/word/document.xml"', f'PartName="/{part}"'.encode())
            elif info.filename == "_rels/.rels":
                body = body.replace(b'Target="word/document.xml"', f'Target="{part}"'.encode())
            dst.writestr(target, body)
    return out.getvalue()


def encrypted_docx(text: str, password: str = "hemligt") -> bytes:
    """A real password-protected Word file: an OLE compound file with EncryptionInfo and
    EncryptedPackage streams (ECMA-376 agile encryption, as Word writes it)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(make_docx([text]))).encrypt(password, out)
    return out.getvalue()


def zip_bomb_docx(expanded_bytes: int, *, declared: int | None = None) -> bytes:
    """A .docx whose document part inflates to ``expanded_bytes`` (valid XML, mostly
    whitespace), streamed so the test never holds it inflated. With ``declared``, the
    archive lies: its headers claim the part is that small (with a checksum to match)."""
    base = make_docx(["Bomb."])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED,
                                                                     compresslevel=9) as dst:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                dst.writestr(info.filename, src.read(info.filename))
                continue
            document = src.read(info.filename)
            head, tail = document.split(b"<w:body>", 1)
            with dst.open("word/document.xml", "w", force_zip64=expanded_bytes > 2**31 - 2**24) as fh:
                fh.write(head + b"<w:body>")
                chunk = b" " * (1 << 20)
                left = expanded_bytes
                while left > 0:
                    fh.write(chunk[:left])
                    left -= len(chunk)
                fh.write(tail)
    data = out.getvalue()
    return data if declared is None else _declare_size(data, "word/document.xml", declared)


def _declare_size(data: bytes, member: str, size: int) -> bytes:
    """Make the local and central headers of ``member`` claim ``size`` bytes, with the CRC
    of that many leading bytes, so a reader that trusts the headers sees a valid small part."""
    import struct

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(member)
        with z.open(info) as fh:
            crc = zlib.crc32(fh.read(size))
    buf = bytearray(data)
    struct.pack_into("<II", buf, info.header_offset + 18, info.compress_size, size)
    struct.pack_into("<I", buf, info.header_offset + 14, crc)
    pos = 0
    while (pos := buf.find(b"PK\x01\x02", pos)) >= 0:
        name_len = struct.unpack_from("<H", buf, pos + 28)[0]
        if bytes(buf[pos + 46:pos + 46 + name_len]) == member.encode():
            struct.pack_into("<I", buf, pos + 16, crc)
            struct.pack_into("<I", buf, pos + 24, size)
        pos += 4
    return bytes(buf)


def minimal_odt(body_xml: str, *, extra: dict[str, bytes] | None = None) -> bytes:
    """A small but valid OpenDocument text file with ``body_xml`` inside ``office:text``."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.2">'
        f"<office:body><office:text>{body_xml}</office:text></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    styles = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-styles xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'office:version="1.2"><office:styles/></office:document-styles>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("styles.xml", styles, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        for name, body in (extra or {}).items():
            z.writestr(name, body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def encrypted_odt() -> bytes:
    """An ODT as LibreOffice writes it with a password: the parts are ciphertext and the
    manifest carries ``manifest:encryption-data``."""
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml" manifest:size="900">'
        '<manifest:encryption-data manifest:checksum-type="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0#sha256-1k" '
        'manifest:checksum="AAAA"><manifest:algorithm manifest:algorithm-name="http://www.w3.org/2001/04/xmlenc#aes256-cbc" '
        'manifest:initialisation-vector="AAAA"/></manifest:encryption-data></manifest:file-entry></manifest:manifest>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", random.Random(6).randbytes(900))  # ciphertext stand-in, fixed
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _xlsx() -> bytes:
    """The smallest spreadsheet-shaped Office file: its content types say workbook."""
    types = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
             'spreadsheetml.sheet.main+xml"/></Types>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", types)
        z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
    return out.getvalue()


def odt_with_external_images(text: str, targets: list[str]) -> bytes:
    frames = "".join(
        f'<text:p><draw:frame svg:width="2cm" svg:height="2cm"><draw:image xlink:href="{t}" '
        'xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/></draw:frame></text:p>'
        for t in targets)
    return minimal_odt(f"<text:p>{text}</text:p>{frames}")


def html_with_active_content(text: str, canary: Canary, server_url: str) -> str:
    return (
        "<!DOCTYPE html><html><head><title>Stöd och matchning</title>"
        f'<link rel="stylesheet" href="{server_url}/style.css">'
        f"<script src=\"{server_url}/x.js\"></script><script>document.write('SKRIPT-KÖRT')</script>"
        f'<meta http-equiv="refresh" content="0; url={server_url}/refresh">'
        "</head><body>"
        f"<h1>Stöd och matchning</h1><p>{text}</p>"
        f'<iframe src="{canary.url}"></iframe><iframe src="{server_url}/frame"></iframe>'
        f'<p><img src="{canary.url}" alt="lokal bild"> <img src="{server_url}/bild.png" alt="extern bild"></p>'
        f'<object data="{canary.url}"></object><embed src="{server_url}/embed">'
        f'<p style="background:url({server_url}/bg.png)">Stil med bakgrund.</p>'
        f'<svg><image href="{canary.url}"/></svg>'
        f'<p><a href="{canary.url}">lokal länk</a> <a href="javascript:alert(1)">skriptlänk</a> '
        f'<a href="https://www.example.org/rapport">källa</a></p>'
        "<p onclick=\"alert('x')\">Klicktext.</p>"
        "</body></html>"
    )


def markdown_with_local_includes(text: str, canary: Canary, server_url: str) -> str:
    return (
        "---\ntitle: Verksamhetsutveckling\nheader-includes: '<script>alert(1)</script>'\n---\n\n"
        f"{text}\n\n"
        f"![lokal bild]({canary.path})\n\n"
        f"![fil-url]({canary.url})\n\n"
        f"![extern bild]({server_url}/md.png)\n\n"
        f'<img src="{canary.url}" alt="rå html-bild">\n\n'
        f'<iframe src="{canary.url}"></iframe>\n\n'
        "<script>alert('md')</script>\n\n"
        f"\\input{{{canary.path}}}\n\n"
        f"```{{=html}}\n<img src=\"{canary.url}\">\n```\n\n"
        f"[länk till fil]({canary.url}) och [källa](https://www.example.org/).\n"
    )


def markdown_yaml_bomb(text: str, piece: str) -> str:
    """Front matter whose aliases expand to 9^9 strings (a "billion laughs" in YAML)."""
    lines = ["---", f"delrapport: {piece}", "title: Alias i massor", 'a: &a ["ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha"]']
    for i in range(8):
        prev, name = chr(97 + i), chr(98 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n---\n\n" + text + "\n"


def rtf_with_include_picture(text: str, canary: Canary, server_url: str) -> str:
    def esc(s: str) -> str:
        # As Word writes it: \uN followed by the Windows-1252 fallback byte.
        return "".join(c if ord(c) < 128 else f"\\u{ord(c)}\\'{c.encode('cp1252')[0]:02x}" for c in s)

    return (
        "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Times New Roman;}}\n"
        f"{{\\pard {esc(text)}\\par}}\n"
        f'{{\\field{{\\*\\fldinst INCLUDEPICTURE "{canary.url}" \\\\d}}{{\\fldrslt bild}}}}\\par\n'
        f'{{\\field{{\\*\\fldinst INCLUDEPICTURE "{server_url}/rtf.png" \\\\d}}{{\\fldrslt bild2}}}}\\par\n'
        f'{{\\field{{\\*\\fldinst INCLUDETEXT "{canary.path}"}}{{\\fldrslt text}}}}\\par\n'
        "}\n"
    )


def sparse_file(path: Path, size: int, head: bytes = b"") -> Path:
    """A file of ``size`` bytes that takes (almost) no disk: ``head`` then a hole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)
    return path


def nfd(name: str) -> str:
    return unicodedata.normalize("NFD", name)


# --- the hostile inbox ---------------------------------------------------------------------


@dataclass
class Case:
    """One inbox file and what a user expects from it.

    ``verdict`` is accepted / superseded / rejected; for a rejection ``code`` is the reason
    code and ``reason`` a phrase of the Swedish reason; for an accepted file ``text`` is a
    phrase that must reach the draft.
    """

    key: str
    verdict: str
    code: str | None = None
    reason: str | None = None
    text: str | None = None
    data: bytes | str | None = None
    make: Callable[[Path], None] | None = None  # writes the file itself (large or sparse files)
    note: str = ""

    def write(self, inbox: Path) -> Path:
        path = inbox / self.key
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.make:
            self.make(path)
        else:
            data = self.data.encode("utf-8") if isinstance(self.data, str) else self.data
            path.write_bytes(data)
        return path


def hostile_cases(canary: Canary, server_url: str, *, big_bytes: int = 60 * 1024 * 1024,
                  bomb_bytes: int = 210 * 1024 * 1024) -> list[Case]:
    """The hostile inbox: every category of the reliability table in the README."""
    good = "Verksamheten ger arbetsträning i butiken varje vecka"
    cases = [
        # Broken or refused formats.
        Case("myrorna/1.1 Tom.docx", "rejected", "empty_file", "tom", data=b""),
        Case("myrorna/1.2 Bara text.docx", "rejected", "unsupported_format", "innehåller vanlig text",
             data="Det här är bara text som fått fel filändelse.\n"),
        Case("myrorna/1.3 Lösenord.docx", "rejected", "encrypted", "lösenordsskyddad",
             data=encrypted_docx("Hemlig text.")),
        Case("myrorna/1.4 Avbruten.docx", "rejected", "corrupt", "skadad",
             data=make_docx([good] * 20, image=True)[:6000]),
        Case("stadsmissionen/1.1 Bomb.docx", "rejected", "archive_bomb", "packas upp till mer än",
             data=zip_bomb_docx(bomb_bytes)),
        Case("stadsmissionen/2.2 Bomb som ljuger.docx", "rejected", "archive_bomb", "packas upp till mer än",
             data=zip_bomb_docx(bomb_bytes, declared=2000), note="headers claim 2 kB"),
        Case("stadsmissionen/1.2 Makro.docm", "rejected", "macro", "makron", data=make_docx(["Makro."])),
        Case("stadsmissionen/1.3 Makro inuti.docx", "rejected", "macro", "makron",
             data=rezip(make_docx(["Makro."]), add={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\0" * 512})),
        Case("stadsmissionen/3.1 Makro.odt", "rejected", "macro", "makron",
             data=minimal_odt("<text:p>Makro.</text:p>", extra={
                 "Basic/Standard/Module1.xml": b'<?xml version="1.0"?><script:module/>'})),
        Case("stadsmissionen/3.2 Krypterad.odt", "rejected", "encrypted", "lösenordsskyddad",
             data=encrypted_odt()),
        Case("stadsmissionen/3.3 Gammal.doc", "rejected", "unsupported_format", "gamla format",
             data=b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096)),
        Case("stadsmissionen/3.4 Kalkyl.xlsx", "rejected", "unsupported_format", "kalkylark",
             data=_xlsx()),
        Case("stadsmissionen/1.4 Entitet.docx", "rejected", "unsafe_content", "säkerhetsskäl",
             data=docx_with_xxe("Entitet:", canary)),
        Case("stadsmissionen/2.1 Entitet annan sökväg.docx", "rejected", "unsafe_content", "säkerhetsskäl",
             data=docx_with_xxe("Entitet:", canary, part="word/huvud.bin")),
        Case("hela-manniskan/1.1 Jättestor.docx", "rejected", "too_large", "för stor",
             make=lambda p: sparse_file(p, big_bytes, make_docx(["Stor."]))),
        # Documents that are fine but reach for files or servers: accepted, references dropped.
        Case("hela-manniskan/1.2 Länkad bild.docx", "accepted",
             text="Länkade bilder tas inte med",
             data=docx_with_external_images("Länkade bilder tas inte med i utkastet.",
                                            [canary.url, f"{server_url}/docx-embed.png",
                                             f"{server_url}/docx-link.png", str(canary.path)])),
        Case("hela-manniskan/1.3 Fält.docx", "accepted", text="Fält som hämtar filer",
             data=docx_with_fields("Fält som hämtar filer följer inte med.", canary, server_url)),
        Case("hela-manniskan/1.4 Länkad bild.odt", "accepted", text="OpenDocument med länkad bild",
             data=odt_with_external_images("OpenDocument med länkad bild.",
                                           [canary.url, f"{server_url}/odt.png", str(canary.path)])),
        Case("erikshjalpen/2.1 Skript.html", "accepted", text="Stöd ges av handledare",
             data=html_with_active_content("Stöd ges av handledare på plats.", canary, server_url)),
        Case("erikshjalpen/4.3 Utveckling.md", "accepted", text="Verksamheten utvecklas stegvis",
             data=markdown_with_local_includes("Verksamheten utvecklas stegvis.", canary, server_url)),
        Case("erikshjalpen/3.1 Fält.rtf", "accepted", text="RTF med fält",
             data=rtf_with_include_picture("RTF med fält som pekar ut.", canary, server_url)),
        Case("forum/YAML-alias.md", "accepted", text="Front matter med alias",
             data=markdown_yaml_bomb("Front matter med alias läses säkert.", "4.1")),
        # Encodings.
        Case("verdandi/2.2 Latin.txt", "accepted", text="Vi har åtta deltagare i Växjö",
             data="Vi har åtta deltagare i Växjö.\n\nHandledarna får stöd.\n".encode("cp1252")),
        Case("verdandi/2.3 Unicode.txt", "accepted", text="Övergången till arbete",
             data="Övergången till arbete är svår för många.\n".encode("utf-16")),
        # Names.
        Case(nfd("Frälsningsarmén/2.4 Följeslagare.docx"), "accepted", text="Följeslagare hjälper",
             data=make_docx(["Följeslagare hjälper deltagarna."])),
        Case("kooptjanst/3.3 Kunskap 🚀.docx", "accepted", text="Raketfart i lärandet",
             data=make_docx(["Raketfart i lärandet."])),
        Case("kooptjanst/3.4 Systemfel..v2.docx", "accepted", text="Systemfelen beskrivs",
             data=make_docx(["Systemfelen beskrivs här."])),
        Case("kooptjanst/.3.2 Dold.docx", "rejected", "hidden_file", "börjar med punkt",
             data=make_docx(["Dold."])),
        Case("kooptjanst/~$3.2 Låsfil.docx", "rejected", "hidden_file", "tillfällig fil",
             data=b"\x05lock"),
        Case("3.2 Direkt i inkorgen.docx", "rejected", "no_partner_folder", "direkt i inkorgen",
             data=make_docx(["Fel ställe."])),
        Case("okand-forening/3.2 Länken.docx", "rejected", "unknown_partner", "hör inte till någon partner",
             data=make_docx(["Okänd."])),
        Case("myrorna/Anteckningar.docx", "rejected", "unknown_piece", "vilken delrapport",
             data=make_docx(["Inget nummer."])),
        Case("roda-korset/2.3 Genväg.txt", "rejected", "unsafe_name", "genväg",
             make=lambda p: p.symlink_to(canary.path), note="a link to a file outside the inbox"),
        # A plain good file, so the draft has a known anchor.
        Case("coompanion/4.1 Villkor.docx", "accepted", text="Villkoren för att driva",
             data=make_docx(["Villkoren för att driva verksamheten är tuffa."], heading="Villkor")),
    ]
    return cases


def write_inbox(inbox: Path, cases: Iterable[Case]) -> dict[str, Case]:
    """Write every case into ``inbox``; returns them by the key the storage will list."""
    placed = {}
    for case in cases:
        case.write(inbox)
        placed[case.key] = case
    return placed


# --- looking for a token in outputs ----------------------------------------------------------


def _variants(token: str) -> list[bytes]:
    return [token.encode("utf-8"), token.encode("utf-16-le"), token.encode("utf-16-be")]


def _blobs(name: str, data: bytes, depth: int = 0) -> Iterable[tuple[str, bytes]]:
    """``data`` and everything that can be unpacked from it: zip members, deflate streams,
    base64 data URIs, PDF text."""
    yield name, data
    if depth > 3:
        return
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for info in z.infolist():
                    yield from _blobs(f"{name}!{info.filename}", z.read(info.filename), depth + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error):
            pass
    if data[:5] == b"%PDF-":
        for i, stream in enumerate(re.findall(rb"stream\r?\n(.*?)endstream", data, re.S)):
            try:
                yield f"{name}#stream{i}", zlib.decompress(stream)
            except zlib.error:
                pass
        try:
            from pypdf import PdfReader

            reader = PdfReader(io.BytesIO(data))
            text = "\n".join(page.extract_text() or "" for page in reader.pages)
            yield f"{name}#text", text.encode("utf-8")
        except Exception:  # a PDF the extractor cannot read is still searched raw
            pass
    for m in re.finditer(rb"data:[\w/+.-]+;base64,([A-Za-z0-9+/=]+)", data):
        try:
            yield from _blobs(f"{name}#data-uri", base64.b64decode(m.group(1)), depth + 1)
        except (binascii.Error, ValueError):
            pass


def find_token(root: Path, token: str) -> list[str]:
    """Every place under ``root`` (recursively, unpacking) where ``token`` appears."""
    hits = []
    needles = _variants(token)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        for name, blob in _blobs(str(path.relative_to(root)), path.read_bytes()):
            if any(n in blob for n in needles):
                hits.append(name)
    return hits


ACTIVE_HTML = re.compile(
    r"<\s*(script|iframe|frame|object|embed|link|base|meta\s+http-equiv|form|svg|math)\b"
    r"|\son\w+\s*="
    r"|javascript:"
    r"|file:"
    r"|url\(\s*['\"]?(?!data:)",
    re.I)
EXTERNAL_SRC = re.compile(r"""\s(?:src|srcset|poster|data|background|xlink:href)\s*=\s*["']?(?!data:)([^"'\s>]+)""", re.I)


def active_html(html: str, *, allow_links: bool = True) -> list[str]:
    """What in ``html`` could run or load something: script/iframe/object/…, event handlers,
    ``javascript:``/``file:`` URLs, CSS ``url()``, and any ``src``-like attribute that is not a
    ``data:`` URI. Plain ``<a href="https://…">`` links are allowed (a reader clicks them)."""
    found = [m.group(0) for m in ACTIVE_HTML.finditer(html)]
    found += [m.group(0) for m in EXTERNAL_SRC.finditer(html)]
    if not allow_links:
        found += re.findall(r"""href\s*=\s*["']?(?!#)[^"'\s>]+""", html)
    return found


def environ_for_cli() -> dict[str, str]:
    """Environment for running the ``utkast`` command in a subprocess."""
    return dict(os.environ, DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
                PREFECT_LOGGING_LEVEL="WARNING")



# --- seeded mutations for fuzzing --------------------------------------------------------------

MUTATIONS = ("bit_flips", "truncate", "overwrite", "member_corrupt", "member_replace",
             "member_duplicate", "member_drop", "xml_damage", "xml_damage", "xml_damage")
MAIN_PARTS = ("word/document.xml", "content.xml")


def mutate(data: bytes, rng) -> tuple[str, bytes]:
    """One seeded mutation of a zip-based document: ``(name of the mutation, new bytes)``.

    Byte level (bit flips, truncation, overwritten runs), zip level (a member's bytes
    damaged, replaced by another member or random bytes, stored twice, left out) and XML
    level (tags, entities and text of the main part damaged, then zipped again). The same
    ``rng`` state gives the same file."""
    kind = rng.choice(MUTATIONS)
    try:
        members = _members(data)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error):
        members = None
    if members is None and kind not in ("bit_flips", "truncate", "overwrite"):
        kind = "bit_flips"
    buf = bytearray(data)
    if kind == "bit_flips":
        for _ in range(rng.randint(1, 24)):
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        return kind, bytes(buf)
    if kind == "truncate":
        return kind, bytes(buf[: rng.randrange(1, len(buf))])
    if kind == "overwrite":
        start = rng.randrange(len(buf))
        run = bytes(rng.randrange(256) for _ in range(rng.randint(1, 512)))
        buf[start:start + len(run)] = run
        return kind, bytes(buf)
    names = [n for n, _ in members]
    if kind == "member_corrupt":
        i = rng.randrange(len(members))
        body = bytearray(members[i][1]) or bytearray(b"\0")
        for _ in range(rng.randint(1, 16)):
            j = rng.randrange(len(body))
            body[j] = rng.randrange(256)
        members[i] = (members[i][0], bytes(body))
    elif kind == "member_replace":
        i = rng.randrange(len(members))
        if rng.random() < 0.5:
            members[i] = (members[i][0], members[rng.randrange(len(members))][1])
        else:
            members[i] = (members[i][0], bytes(rng.randrange(256) for _ in range(rng.randint(0, 2048))))
    elif kind == "member_duplicate":
        i = rng.randrange(len(members))
        other = members[rng.randrange(len(members))][1]
        members.insert(rng.randrange(len(members) + 1), (members[i][0], other))
    elif kind == "member_drop":
        members.pop(rng.randrange(len(members)))
    else:  # xml_damage
        target = next((n for n in MAIN_PARTS if n in names), None) or rng.choice(names)
        i = names.index(target)
        members[i] = (target, damage_xml(members[i][1], rng))
    return kind, _zip(members)


def damage_xml(xml: bytes, rng) -> bytes:
    """Break XML the ways real files break: lost brackets, wrong or unclosed tags, unknown
    entities, characters XML forbids, a cut, deep nesting, repeated chunks."""
    text = xml.decode("utf-8", "replace")
    for _ in range(rng.randint(1, 4)):
        if not text:
            break
        how = rng.randrange(8)
        i = rng.randrange(len(text))
        if how == 0:  # a lost bracket
            j = text.find(rng.choice("<>"), i)
            if j >= 0:
                text = text[:j] + text[j + 1:]
        elif how == 1:  # a closing tag that does not match
            tags = re.findall(r"</[\w:]+>", text)
            if tags:
                text = text.replace(rng.choice(tags), rng.choice(tags), 1)
        elif how == 2:
            text = text[:i] + "&okänd;" + text[i:]
        elif how == 3:
            text = text[:i] + "".join(chr(rng.choice([1, 2, 8, 11, 0xFFFE, 0xFFFF])) for _ in range(3)) + text[i:]
        elif how == 4:
            text = text[:i]
        elif how == 5:
            depth = rng.randint(50, 3000)
            tag = rng.choice(["w:p", "w:r", "text:span", "text:list", "w:tbl"])
            text = text[:i] + f"<{tag}>" * depth + text[i:]
        elif how == 6:
            j = min(len(text), i + rng.randint(1, 4000))
            text = text[:j] + text[i:j] * rng.randint(2, 20) + text[j:]
        else:  # an attribute value damaged
            attrs = [m.start() for m in re.finditer(r'="', text)]
            if attrs:
                k = rng.choice(attrs) + 2
                text = text[:k] + rng.choice(['"', "<", "&", "-99999999999", "\u202e"]) + text[k:]
    return text.encode("utf-8")


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(info.filename, z.read(info)) for info in z.infolist()]


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    import warnings

    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of one mutation
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name, body in members:
                z.writestr(zipfile.ZipInfo(name, (2026, 3, 1, 0, 0, 0)), body, zipfile.ZIP_DEFLATED)
    return out.getvalue()
