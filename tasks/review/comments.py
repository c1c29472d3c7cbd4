"""Word files and the language review: read a document's paragraphs as blocks, and put each
finding into the document as a Word comment anchored on exactly the words it is about.

A paragraph's text is the text of its runs in document order as
:mod:`tasks.core.wordml` reads it: runs inside hyperlinks, tracked insertions, content
controls and simple fields count; deleted text, field codes, objects and text boxes do not. Anchoring a comment on part of a run splits
the run in two; both halves keep the run's formatting (``w:rPr`` is copied).
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass

from docx import Document
from docx.document import Document as DocumentObject
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from tasks.core.wordml import OBJECT, body_paragraphs, node_text, paragraph_bits, run_text
from tasks.review.text import Block

AUTHOR = "Språkgranskning (utkast)"
INITIALS = "SG"

@dataclass
class DocxParagraph:
    """A paragraph of the document and the block checked for it."""

    element: object  # CT_P
    block: Block


def open_docx(data: bytes) -> DocumentObject:
    return Document(io.BytesIO(data))


def paragraph_runs(p) -> list:
    """The ``w:r`` elements of the paragraph's current text (deleted runs left out), in
    document order, as :func:`tasks.core.wordml.paragraph_bits` walks them."""
    runs: list = []
    for bit in paragraph_bits(p):
        if bit.run is not None and bit.in_current() and (not runs or runs[-1] is not bit.run):
            runs.append(bit.run)
    return runs


def _child_len(child) -> int:
    text = node_text(child)
    return 0 if text == OBJECT else len(text)


def paragraph_text(p) -> str:
    return "".join(run_text(r) for r in paragraph_runs(p))


def docx_paragraphs(doc: DocumentObject) -> list[DocxParagraph]:
    """Every paragraph of the body (tables included) with text, as blocks."""
    result = []
    for p in body_paragraphs(doc.element.body):  # text boxes and the table of contents left out
        text = paragraph_text(p)
        if not text.strip():
            continue
        kind, level = _kind(doc, p)
        result.append(DocxParagraph(p, Block(text, kind, level)))
    return result


def _kind(doc: DocumentObject, p) -> tuple[str, int]:
    if any(a.tag == qn("w:tc") for a in p.iterancestors()):
        return "cell", 0
    try:
        name = (Paragraph(p, doc._body).style.name or "").lower()
    except (KeyError, ValueError, AttributeError):
        name = ""
    for prefix in ("heading ", "rubrik "):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            return "heading", int(name[len(prefix):])
    if name == "title":
        return "heading", 1
    ppr = p.find(qn("w:pPr"))
    if (ppr is not None and ppr.find(qn("w:numPr")) is not None) or "list" in name:
        return "item", 0
    return "para", 0


def split_run(r, k: int) -> None:
    """Split run ``r`` after ``k`` characters of its text; the second half follows it."""
    total = len(run_text(r))
    if k <= 0 or k >= total:
        return
    right = copy.deepcopy(r)
    _keep(r, 0, k, total)
    _keep(right, k, total, total)
    r.addnext(right)


def _keep(r, start: int, end: int, total: int) -> None:
    """Keep only the content of run ``r`` whose text lies in [start, end)."""
    pos = 0
    for child in list(r):
        if child.tag == qn("w:rPr"):
            continue
        n = _child_len(child)
        if n == 0:
            if not (pos >= start and (pos < end or end == total)):
                r.remove(child)
            continue
        if child.tag == qn("w:t") and pos < end and pos + n > start:
            text = child.text or ""
            child.text = text[max(start, pos) - pos:min(end, pos + n) - pos]
            child.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
        elif not (start <= pos < end):
            r.remove(child)
        pos += n


def anchor_comments(doc: DocumentObject, paragraph, findings: list[dict], comment_text) -> int:
    """Add one comment per finding to ``paragraph`` (a CT_P); findings carry ``block_offset``
    and ``length`` in the paragraph's text. Returns the number of comments added."""
    cuts = sorted({x for f in findings for x in (f["block_offset"], f["block_offset"] + f["length"])})
    for cut in cuts:
        pos = 0
        for r in paragraph_runs(paragraph):
            n = len(run_text(r))
            if pos < cut < pos + n:
                split_run(r, cut - pos)
                break
            pos += n
    spans, pos = [], 0
    for r in paragraph_runs(paragraph):
        n = len(run_text(r))
        if n:
            spans.append((pos, pos + n, r))
        pos += n
    para = Paragraph(paragraph, doc._body)
    added = 0
    for f in findings:
        start, end = f["block_offset"], f["block_offset"] + f["length"]
        runs = [r for a, b, r in spans if a >= start and b <= end]
        if not runs:
            continue
        doc.add_comment([Run(runs[0], para), Run(runs[-1], para)], text=comment_text(f),
                        author=AUTHOR, initials=INITIALS)
        added += 1
    return added


def comment_document(doc: DocumentObject, paragraphs: list[DocxParagraph], findings: list[dict],
                     comment_text) -> int:
    """Comment every finding (``block`` = index into ``paragraphs``) in ``doc``."""
    by_block: dict[int, list[dict]] = {}
    for f in findings:
        by_block.setdefault(f["block"], []).append(f)
    return sum(anchor_comments(doc, paragraphs[i].element, fs, comment_text) for i, fs in by_block.items())


def new_text_document(blocks: list[Block], title: str, note: str) -> tuple[DocumentObject, list[DocxParagraph]]:
    """A fresh Word document of ``blocks`` (for reports that did not come as Word files)."""
    doc = Document()
    doc.core_properties.title = title
    doc.core_properties.language = "sv-SE"
    doc.add_heading(title, level=1)
    intro = doc.add_paragraph()
    intro.add_run(note).italic = True
    paragraphs = []
    top = min((b.level for b in blocks if b.kind == "heading"), default=1)
    for block in blocks:
        if block.kind == "heading":
            para = doc.add_heading("", level=min(block.level - top + 2, 9))
        elif block.kind == "item":
            para = doc.add_paragraph(style="List Bullet")
        else:
            para = doc.add_paragraph()
        para.add_run(block.text)
        paragraphs.append(DocxParagraph(para._p, block))
    return doc, paragraphs


def save(doc: DocumentObject) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
