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


# --- a reviewer's returned draft ---------------------------------------------------------


def _split_run_at(doc, words: str):
    """The paragraph and a run holding exactly ``words``, split out of the run containing it."""
    import copy

    from docx.text.run import Run

    for para in doc.paragraphs:
        for run in para.runs:
            if words in run.text:
                before, after = run.text.split(words, 1)
                r = run._r

                def clone(text):
                    new = copy.deepcopy(r)
                    Run(new, para).text = text
                    return new

                middle = clone(words)
                if after:
                    r.addnext(clone(after))
                r.addnext(middle)
                if before:
                    run.text = before
                else:
                    r.getparent().remove(r)
                return para, Run(middle, para)
    raise AssertionError(f"no run holds {words!r}")


def comment_on_words(doc, words: str, text: str, author: str) -> None:
    """A Word comment (python-docx ``add_comment``) anchored on exactly ``words``."""
    _, run = _split_run_at(doc, words)
    doc.add_comment(run, text=text, author=author, initials=author[:1])


def track_insertion(doc, after: str, inserted: str, author: str, date: str = "2026-08-10T09:00:00Z",
                    ident: int = 9001) -> None:
    """A tracked insertion (``w:ins``) of ``inserted`` right after the words ``after``,
    written into the XML the way Word does."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    _, run = _split_run_at(doc, after)
    ins = OxmlElement("w:ins")
    ins.set(qn("w:id"), str(ident))
    ins.set(qn("w:author"), author)
    ins.set(qn("w:date"), date)
    r = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    t.text = inserted
    r.append(t)
    ins.append(r)
    run._r.addnext(ins)


def docx_from_markdown(markdown: str, fmt: str = "docx") -> bytes:
    """A real Word (or ``fmt="odt"``: OpenDocument) file made by pandoc from Markdown:
    footnotes (``[^1]``) become real footnotes, pipe tables real tables (python-docx cannot
    write footnotes)."""
    import subprocess

    from tasks.core.pandoc import pandoc_path

    done = subprocess.run([pandoc_path(), "--sandbox", "-f", "markdown", "-t", fmt, "-o", "-"],
                          input=markdown.encode("utf-8"), capture_output=True, check=True)
    return done.stdout


def normalise_inbox(inbox: Path, out: Path, config):
    """Screen and convert the files of a test inbox into ``out`` with the plain intake
    functions (as the intake flow calls them, without Prefect); returns the inbox files with
    their verdicts and the normalised reports by slot key (``partner/piece``)."""
    from tasks.intake.inbox import scan_inbox
    from tasks.intake.normalise import apply_conversions, convert_files, pending_conversions, plan_conversions
    from tasks.storage.local import LocalStorage
    from tasks.storage.state import RunState, save_state

    source, target, state = LocalStorage(inbox), LocalStorage(out), RunState()
    files = scan_inbox(source, config, state.screening)
    todo, reports = plan_conversions(files, state.conversions)
    while todo:
        results = convert_files(source, pending_conversions(todo, state.conversions), config)
        todo = apply_conversions(target, files, todo, results, state.conversions, config, reports,
                                 checkpoint=lambda: save_state(target, state))
    return files, reports


# --- the hard cases of accessibility (docs/accessibility.md) --------------------------------

ALT_TEXT = "Stapeldiagram: deltagare per år, från 412 år 2014 till 530 år 2016"


def _data_uri(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode()


def accessibility_markdown(described: bytes = PNG, undescribed: bytes | None = None) -> str:
    """Markdown with every hard case: headings that skip a level (1 -> 3), an image with a
    description and one without, a table with a header row and one without, a footnote and
    a list. The images are data: URIs (``undescribed`` defaults to another colour than
    ``described``, so both are kept)."""
    undescribed = undescribed or make_png(rgb=(30, 30, 200))
    return f"""# Tillgänglighet i butikerna

Butikerna tar emot deltagare med olika behov.[^1] Diagrammet visar hur många de har varit.

### Deltagare och handledare

![{ALT_TEXT}]({_data_uri(described)})

Bilden nedan saknar beskrivning.

![]({_data_uri(undescribed)})

| År | Deltagare | Vidare till arbete |
|----|-----------|--------------------|
| 2014 | 412 | 97 |
| 2015 | 468 | 121 |

---------  -------  ------
Norr        12       3
Söder       20       5
Väster      17       4
---------  -------  ------

Handledarna arbetar med

- introduktion,
- uppföljning och
- validering.

[^1]: Behoven kartläggs vid första mötet.
"""


def make_accessibility_docx() -> bytes:
    """A Word file (made by pandoc, as Word stores it: the image's description in
    ``wp:docPr/@descr``, the header row as ``w:tblHeader``) with every hard case."""
    return docx_from_markdown(accessibility_markdown())


def make_accessibility_odt(alt: str = "Karta över butikerna i regionen") -> bytes:
    """An OpenDocument text with two images: the first with a text alternative set as
    LibreOffice does (``svg:title`` in its frame), the second without."""
    markdown = (f"# Butikerna\n\nKartan visar butikerna.\n\n![]({_data_uri(make_png(rgb=(1, 2, 3)))})\n\n"
                f"Den andra bilden saknar beskrivning.\n\n![]({_data_uri(make_png(rgb=(4, 5, 6)))})\n")
    data = docx_from_markdown(markdown, "odt")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        content = archive.read("content.xml").decode("utf-8")
    end = content.index("</draw:frame>")
    content = content[:end] + f"<svg:title>{alt}</svg:title>" + content[end:]
    return rezip(data, replace={"content.xml": content.encode("utf-8")})
