"""The redline: the newer draft's own .docx with the differences from the older draft as
Word tracked changes (``w:ins``/``w:del`` by "utkast", dated).

Built on the newer draft's Word file, so styles (templates/reference.docx), tables,
pictures and footnotes stay as the reviewer knows them. Unchanged paragraphs are left
alone; an edited paragraph is rewritten word by word keeping each run's formatting; a
new paragraph is marked inserted whole; a removed one is put back, marked deleted, where
it stood.
"""

from __future__ import annotations

import copy
import io
import itertools
import zipfile
from datetime import datetime, timezone

from lxml import etree

from tasks.core.errors import UtkastError
from tasks.core.wordml import CONTAINERS, OBJECT, REDLINE_AUTHOR, body_of, local, paragraph_bits, w
from tasks.core.wordtext import DocxPackage, text_paragraphs
from tasks.roundtrip.compare import Change

XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


class _Revisions:
    """Makes ``w:ins``/``w:del`` elements with unique ids, one author and one date."""

    def __init__(self, document, when: datetime):
        used = [int(v) for el in document.iter() if isinstance(el.tag, str)
                for v in [el.get(w("id"))] if v is not None and v.lstrip("-").isdigit()]
        self.ids = itertools.count(max(used, default=0) + 1)
        self.date = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def make(self, kind: str):
        el = etree.Element(w(kind))
        el.set(w("id"), str(next(self.ids)))
        el.set(w("author"), REDLINE_AUTHOR)
        el.set(w("date"), self.date)
        return el


def redline_docx(new_docx: bytes, new_record: list[dict], old_record: list[dict], steps: list[Change],
                 when: datetime, note: str | None) -> bytes:
    """The newer draft's .docx with ``steps`` (from :func:`tasks.roundtrip.compare.align`) as tracked
    changes and ``note`` (what is compared with what) as a paragraph after the title (none
    when None)."""
    package = DocxPackage(new_docx)
    document = package.document()
    body = body_of(document)
    mark_changes(body, new_record, old_record, steps, _Revisions(document, when))
    if note is not None:
        _insert_note(body, _note(note))
    xml = etree.tostring(document, xml_declaration=True, encoding="UTF-8", standalone=True)
    return _replace_part(new_docx, package.main, xml)


CUT = "urn:utkast:cut"


def redline_markup(root: str, chunks: list[str], new_record: list[dict], old_record: list[dict],
                   steps: list[Change], when: datetime) -> list[str]:
    """Pieces of Word body markup that follow each other in the draft (one paket's, see
    :mod:`tasks.draft.wordjoin`) with ``steps`` as tracked changes, cut where they were cut.
    ``root``: the document element's start tag (its namespace declarations)."""
    cut = f'<c:cut xmlns:c="{CUT}"/>'
    document = etree.fromstring(f"{root}<w:body>{cut.join(chunks)}</w:body></w:document>".encode("utf-8"),
                                etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    body = body_of(document)
    mark_changes(body, new_record, old_record, steps, _Revisions(document, when))
    parts, current = [], []
    for child in body:
        if child.tag == f"{{{CUT}}}cut":
            parts.append("".join(current))
            current = []
        else:
            current.append(etree.tostring(child, encoding="unicode"))
    parts.append("".join(current))
    if len(parts) != len(chunks):
        raise UtkastError("the redline lost a cut between the draft's pieces")
    return parts


def mark_changes(body, new_record: list[dict], old_record: list[dict], steps: list[Change],
                 revisions: _Revisions) -> None:
    """``steps`` as tracked changes in ``body``, whose paragraphs with text are ``new_record``'s."""
    paragraphs = [p for p, _ in text_paragraphs(body)]
    if len(paragraphs) != len(new_record):
        raise UtkastError("the draft's text record does not match its Word file")
    inserted: set = set()
    waiting: list[int] = []  # deleted old paragraphs, placed before the next new one
    for step in steps:
        if step.op == "delete":
            waiting.append(step.old)
            continue
        p = paragraphs[step.new]
        for i in waiting:
            _anchor(p, old_record[i]).addprevious(_deleted_paragraph(old_record[i], revisions))
        waiting = []
        if step.op == "insert":
            _mark_inserted(p, revisions)
            inserted.add(p)
        elif step.op == "edit":
            _rewrite(p, step.segments, revisions)
    last = paragraphs[-1] if paragraphs else None
    for i in waiting:
        deleted = _deleted_paragraph(old_record[i], revisions)
        if last is None:
            _append_to_body(body, deleted)
        else:
            _anchor(last, old_record[i]).addnext(deleted)
        last = deleted
    _mark_inserted_rows(body, inserted, revisions)


def _anchor(p, old: dict):
    """Where a deleted paragraph goes relative to ``p``: next to ``p`` itself, or next to
    the table holding ``p`` when the deleted paragraph was not in a table."""
    if old.get("table"):
        return p
    el = p
    while el.getparent() is not None and local(el.getparent()) != "body":
        el = el.getparent()
    return el


def _append_to_body(body, el) -> None:
    sect = body.find(w("sectPr"))
    if sect is not None:
        sect.addprevious(el)
    else:
        body.append(el)


def _paragraph_mark(p, revision) -> None:
    """Mark the paragraph mark itself inserted/deleted (``w:pPr/w:rPr/w:ins``)."""
    ppr = p.find(w("pPr"))
    if ppr is None:
        ppr = etree.Element(w("pPr"))
        p.insert(0, ppr)
    rpr = ppr.find(w("rPr"))
    if rpr is None:
        rpr = etree.Element(w("rPr"))
        later = [c for c in ppr if local(c) in ("sectPr", "pPrChange")]
        if later:
            later[0].addprevious(rpr)
        else:
            ppr.append(rpr)
    rpr.insert(0, revision)


def _mark_inserted(p, revisions: _Revisions) -> None:
    for run in list(p.iter(w("r"))):
        if local(run.getparent()) in ("ins", "del"):
            continue
        ins = revisions.make("ins")
        run.addprevious(ins)
        ins.append(run)
    _paragraph_mark(p, revisions.make("ins"))


def _mark_inserted_rows(body, inserted: set, revisions: _Revisions) -> None:
    """A table row whose every paragraph is new is an inserted row."""
    for row in body.iter(w("tr")):
        cells = [p for p in row.iter(w("p"))]
        texty = [p for p in cells if "".join(b.text for b in paragraph_bits(p)).strip()]
        if texty and all(p in inserted for p in texty):
            trpr = row.find(w("trPr"))
            if trpr is None:
                trpr = etree.Element(w("trPr"))
                first = row[0] if len(row) else None
                if first is not None and local(first) == "tblPrEx":
                    first.addnext(trpr)
                else:
                    row.insert(0, trpr)
            trpr.append(revisions.make("ins"))


def _text_run(text: str, rpr, deleted: bool):
    """A run holding ``text``; tabs and line breaks become ``w:tab``/``w:br``."""
    run = etree.Element(w("r"))
    if rpr is not None:
        run.append(copy.deepcopy(rpr))
    buffer = ""

    def flush():
        nonlocal buffer
        if buffer:
            t = etree.SubElement(run, w("delText" if deleted else "t"))
            t.text = buffer
            t.set(XML_SPACE, "preserve")
            buffer = ""

    for ch in text:
        if ch == "\t":
            flush()
            etree.SubElement(run, w("tab"))
        elif ch == "\n":
            flush()
            etree.SubElement(run, w("br"))
        elif ch == OBJECT:
            continue
        else:
            buffer += ch
    flush()
    return run


def _deleted_paragraph(old: dict, revisions: _Revisions):
    p = etree.Element(w("p"))
    ppr = etree.SubElement(p, w("pPr"))
    if old.get("style"):
        etree.SubElement(ppr, w("pStyle")).set(w("val"), old["style"])
    _paragraph_mark(p, revisions.make("del"))
    deletion = revisions.make("del")
    deletion.append(_text_run(old["text"], None, deleted=True))
    p.append(deletion)
    return p


def _rpr(bit):
    return bit.run.find(w("rPr")) if bit is not None and bit.run is not None else None


def _rewrite(p, segments: list, revisions: _Revisions) -> None:
    """Rebuild paragraph ``p``'s runs from word-level segments, keeping run formatting,
    hyperlinks and objects of the text that stays."""
    chars = []  # (char, bit) of the paragraph's text as it is now
    for bit in paragraph_bits(p):
        if bit.in_original():
            chars.extend((ch, bit) for ch in bit.text)
    pieces = []  # (op, hyperlink or None, run element)
    pos = 0
    for op, text in segments:
        if op == "-":
            near = chars[pos - 1][1] if pos else (chars[0][1] if chars else None)
            pieces.append(("-", None, _text_run(text, _rpr(near), deleted=True)))
            continue
        span = chars[pos:pos + len(text)]
        if "".join(ch for ch, _ in span) != text:
            raise UtkastError("the redline lost its place in a paragraph")
        pos += len(text)
        for (bit, link), group in itertools.groupby(span, key=lambda cb: (cb[1], cb[1].link)):
            group_text = "".join(ch for ch, _ in group)
            if local(bit.node) in ("t", "delText"):
                run = _text_run(group_text, _rpr(bit), deleted=False)
            else:  # a tab, break or object: the original element, once per character
                run = etree.Element(w("r"))
                if _rpr(bit) is not None:
                    run.append(copy.deepcopy(_rpr(bit)))
                for _ in group_text:
                    run.append(copy.deepcopy(bit.node))
            pieces.append((op, link, run))
    if pos != len(chars):
        raise UtkastError("the redline did not use a paragraph's whole text")
    before, after = [], []
    for child in list(p):
        name = local(child)
        if name == "pPr":
            continue
        p.remove(child)
        if name in CONTAINERS or name == "r":
            continue
        (after if name.endswith("End") else before).append(child)
    for el in before:
        p.append(el)
    for (op, link), group in itertools.groupby(pieces, key=lambda x: (x[0], x[1])):
        runs = [run for _, _, run in group]
        holder = p
        if link is not None:
            holder = etree.SubElement(p, link.tag, attrib=dict(link.attrib))
        if op == "=":
            for run in runs:
                holder.append(run)
        else:
            change = revisions.make("ins" if op == "+" else "del")
            for run in runs:
                change.append(run)
            holder.append(change)
    for el in after:
        p.append(el)


TITLE_BLOCK = {"Title", "Subtitle", "Author", "Date", "Abstract"}


def _insert_note(body, note) -> None:
    """Right after the draft's title block (title, subtitle, date)."""
    for child in body:
        if local(child) == "p" and _style(child) in TITLE_BLOCK:
            continue
        child.addprevious(note)
        return
    _append_to_body(body, note)


def _style(p) -> str:
    style = p.find(f"{w('pPr')}/{w('pStyle')}")
    return style.get(w("val"), "") if style is not None else ""


def _note(text: str):
    p = etree.Element(w("p"))
    etree.SubElement(etree.SubElement(p, w("pPr")), w("pStyle")).set(w("val"), "BodyText")
    run = etree.SubElement(p, w("r"))
    etree.SubElement(etree.SubElement(run, w("rPr")), w("i"))
    t = etree.SubElement(run, w("t"))
    t.text = text
    t.set(XML_SPACE, "preserve")
    return p


def _replace_part(data: bytes, name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, content if info.filename == name else src.read(info.filename))
    return out.getvalue()
