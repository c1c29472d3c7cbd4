"""Small documents built in code for tests (no binary fixtures in the repo)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from docx import Document
from docx.shared import Inches



def make_png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid solid-colour PNG, so image handling is exercised without a fixture file."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = make_png()


def make_docx(paragraphs: list[str] | None = None, *, title: str | None = None, heading: str | None = None,
              subheadings: dict[str, list[str]] | None = None, table: list[list[str]] | None = None,
              bullets: list[str] | None = None, image: bool = False, subject: str | None = None,
              comment_on: str | None = None) -> bytes:
    """A .docx with the given parts; returns its bytes."""
    doc = Document()
    if title:
        doc.core_properties.title = title
    if subject:
        doc.core_properties.subject = subject
    if heading:
        doc.add_heading(heading, level=1)
    for text in paragraphs or []:
        para = doc.add_paragraph(text)
        if comment_on and comment_on in text:
            doc.add_comment(para.runs, text="Kolla detta", author="Granskare", initials="G")
    for sub, texts in (subheadings or {}).items():
        doc.add_heading(sub, level=2)
        for text in texts:
            doc.add_paragraph(text)
    for item in bullets or []:
        doc.add_paragraph(item, style="List Bullet")
    if table:
        t = doc.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    if image:
        path = io.BytesIO(PNG)
        doc.add_picture(path, width=Inches(1))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def rezip(data: bytes, *, add: dict[str, bytes] | None = None, replace: dict[str, bytes] | None = None) -> bytes:
    """A copy of a zip-based document with members added or replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = (replace or {}).get(info.filename, src.read(info.filename))
            dst.writestr(info.filename, body)
        for name, body in (add or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


def put(inbox: Path, key: str, data: bytes | str, mtime: float | None = None) -> Path:
    """Write a file into a test inbox (optionally with a given modification time)."""
    import os

    path = inbox / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path
