"""Word parts joined into one document.

Each paket of the draft is rendered on its own (``tasks/core/lua/paket.lua``) as a Word
document with the draft's styles (``templates/reference.docx``); the draft is its opening
(title block, table of contents, front matter; ``tasks/core/lua/render.lua``) with the
paket's bodies appended, so a paket that did not change is not rendered again.

pandoc numbers what must be unique in a document from the start in every part: footnotes,
bookmarks, lists, pictures and relationships (links and images, whose files it names after
the relationship). :func:`number_part` moves a paket's part into a number space of its own
once, when the paket is rendered: ids plus ``paket × 1,000,000`` and relationship ids and
media names with the paket in them. The part stays a complete Word document (its text
record and its redline are read and written on it), and :func:`join_docx` is then the
bodies one after the other and the union of what they refer to: relationships, footnotes,
list definitions, styles, media files and their content types.

These functions work on pandoc's own output; a part that does not look like it raises
:class:`~tasks.core.errors.UtkastError` instead of giving a broken document.
"""

from __future__ import annotations

import io
import re
import zipfile

from lxml import etree

from tasks.core.errors import UtkastError

ID_SPACE = 1_000_000  # ids of paket n are n × ID_SPACE + pandoc's own (Word reads 32-bit ids)
DOCUMENT, STYLES, NUMBERING, FOOTNOTES = "word/document.xml", "word/styles.xml", "word/numbering.xml", \
    "word/footnotes.xml"
DOCUMENT_RELS, FOOTNOTES_RELS, TYPES = "word/_rels/document.xml.rels", "word/_rels/footnotes.xml.rels", \
    "[Content_Types].xml"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
# Relationships a body refers to (the other ones name the package's own parts: styles, numbering …).
BODY_RELATIONS = ("/hyperlink", "/image")
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)

W_ID = re.compile(r'(\sw:id=")(-?\d+)"')
NUM_ID = re.compile(r'(<w:numId w:val=")(\d+)"')
NUM = re.compile(r'(<w:num w:numId=")(\d+)"')
PICTURE_ID = re.compile(r'(<(?:wp:docPr|pic:cNvPr)\b[^>]*?\sid=")(\d+)"')
REL_REF = re.compile(r'(\sr:(?:id|embed|link|pict)=")([^"]+)"')
REL_ID = re.compile(r'(<Relationship\b[^>]*?\sId=")([^"]+)"')
MEDIA_TARGET = re.compile(r'(\sTarget=")media/([^"]+)"')
MEDIA_PART = re.compile(r'(\sPartName="/word/)media/([^"]+)"')


def _entries(data: bytes) -> tuple[list[zipfile.ZipInfo], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
        return infos, {i.filename: z.read(i) for i in infos}


def _zip(names: list[str], parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    # Level 1: the draft is compressed at every build, and its XML shrinks almost as much.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for name in names:
            dst.writestr(name, parts[name])
    return out.getvalue()


def _add(base: int):
    return lambda m: f'{m.group(1)}{int(m.group(2)) + base}"'


def number_part(data: bytes, number: int) -> bytes:
    """Paket ``number``'s Word part (pandoc's output) with its ids in the paket's own space."""
    if not 1 <= number < 1000:
        raise UtkastError(f"paket number {number} is outside 1-999")
    base, tag = number * ID_SPACE, f"p{number}-"
    infos, parts = _entries(data)
    for name in (DOCUMENT, DOCUMENT_RELS):
        if name not in parts:
            raise UtkastError(f"the Word part of paket {number} has no {name}")

    def renamed(m: re.Match) -> str:
        return f'{m.group(1)}{tag}{m.group(2)}"'

    for name in (DOCUMENT, FOOTNOTES):
        if name in parts:
            xml = parts[name].decode("utf-8")
            if max((int(v) for _, v in W_ID.findall(xml)), default=0) >= ID_SPACE:
                raise UtkastError(f"paket {number} has more ids than its number space holds")
            for pattern in (W_ID, NUM_ID, PICTURE_ID):
                xml = pattern.sub(_add(base), xml)
            parts[name] = REL_REF.sub(renamed, xml).encode("utf-8")
    for name in (DOCUMENT_RELS, FOOTNOTES_RELS):
        if name in parts:
            xml = REL_ID.sub(renamed, parts[name].decode("utf-8"))
            parts[name] = MEDIA_TARGET.sub(lambda m: f'{m.group(1)}media/{tag}{m.group(2)}"', xml).encode("utf-8")
    if NUMBERING in parts:
        parts[NUMBERING] = NUM.sub(_add(base), parts[NUMBERING].decode("utf-8")).encode("utf-8")
    if TYPES in parts:
        parts[TYPES] = MEDIA_PART.sub(lambda m: f'{m.group(1)}media/{tag}{m.group(2)}"',
                                      parts[TYPES].decode("utf-8")).encode("utf-8")
    names = []
    for info in infos:
        name = info.filename
        if name.startswith("word/media/"):
            new = f"word/media/{tag}{name[len('word/media/'):]}"
            parts[new] = parts.pop(name)
            name = new
        names.append(name)
    return _zip(names, parts)


# --- joining ----------------------------------------------------------------------------------


def _body(xml: str, what: str) -> tuple[int, int]:
    """Where the body's content starts and where its final section properties begin."""
    start = xml.find("<w:body>")
    end = xml.rfind("<w:sectPr")
    if start < 0 or end < start:
        end = xml.rfind("</w:body>")
    if start < 0 or end < start:
        raise UtkastError(f"{what} has no document body")
    return start + len("<w:body>"), end


def _relationships(xml: bytes) -> list:
    return list(etree.fromstring(xml, PARSER).iter(f"{{{REL_NS}}}Relationship"))


FOOTNOTE = re.compile(r"<w:footnote\b[^>]*?(?:/>|>.*?</w:footnote>)", re.S)


def _footnotes(xml: bytes) -> list[str]:
    """The part's own footnotes (not the separators), as pandoc wrote them."""
    return [f for f in FOOTNOTE.findall(xml.decode("utf-8")) if "w:type=" not in f[:f.index(">")]]


def join_docx(front: bytes, parts: list[bytes]) -> bytes:
    """The opening ``front`` (a whole Word document) with the bodies of ``parts`` (paket's
    Word parts after :func:`number_part`) appended in order: one Word document."""
    infos, out = _entries(front)
    names = [i.filename for i in infos]
    for name in (DOCUMENT, DOCUMENT_RELS, STYLES, NUMBERING, FOOTNOTES, FOOTNOTES_RELS, TYPES):
        if name not in out:
            raise UtkastError(f"the draft's opening has no {name}")
    document = out[DOCUMENT].decode("utf-8")
    _, front_end = _body(document, "the draft's opening")
    bodies = [document[:front_end]]
    rels = etree.fromstring(out[DOCUMENT_RELS], PARSER)
    note_rels = etree.fromstring(out[FOOTNOTES_RELS], PARSER)
    notes: list[str] = []
    styles = etree.fromstring(out[STYLES], PARSER)
    style_ids = {s.get(f"{{{W_NS}}}styleId") for s in styles.iter(f"{{{W_NS}}}style")}
    numbering = etree.fromstring(out[NUMBERING], PARSER)
    abstract = {a.get(f"{{{W_NS}}}abstractNumId") for a in numbering.iter(f"{{{W_NS}}}abstractNum")}
    new_abstract, new_nums = [], []
    types = etree.fromstring(out[TYPES], PARSER)
    defaults = {d.get("Extension", "").lower() for d in types.iter(f"{{{CT_NS}}}Default")}
    overrides = {o.get("PartName") for o in types.iter(f"{{{CT_NS}}}Override")}
    for number, data in enumerate(parts, start=1):
        what = f"Word part {number}"
        _, part = _entries(data)
        xml = part[DOCUMENT].decode("utf-8")
        start, end = _body(xml, what)
        bodies.append(xml[start:end])
        for source, target in ((DOCUMENT_RELS, rels), (FOOTNOTES_RELS, note_rels)):
            if source in part:
                for rel in _relationships(part[source]):
                    if rel.get("Type", "").endswith(BODY_RELATIONS):
                        target.append(rel)
        if FOOTNOTES in part:
            notes += _footnotes(part[FOOTNOTES])
        if part.get(STYLES) != out[STYLES] and STYLES in part:
            for style in etree.fromstring(part[STYLES], PARSER).iter(f"{{{W_NS}}}style"):
                if style.get(f"{{{W_NS}}}styleId") not in style_ids:
                    style_ids.add(style.get(f"{{{W_NS}}}styleId"))
                    styles.append(style)
        if NUMBERING in part:
            for el in etree.fromstring(part[NUMBERING], PARSER):
                if el.tag == f"{{{W_NS}}}abstractNum" and el.get(f"{{{W_NS}}}abstractNumId") not in abstract:
                    abstract.add(el.get(f"{{{W_NS}}}abstractNumId"))
                    new_abstract.append(el)
                elif el.tag == f"{{{W_NS}}}num":
                    new_nums.append(el)
        if TYPES in part:
            for el in etree.fromstring(part[TYPES], PARSER):
                if el.tag == f"{{{CT_NS}}}Default" and el.get("Extension", "").lower() not in defaults:
                    defaults.add(el.get("Extension", "").lower())
                    types.insert(0, el)
                elif el.tag == f"{{{CT_NS}}}Override" and el.get("PartName", "").startswith("/word/media/") \
                        and el.get("PartName") not in overrides:
                    overrides.add(el.get("PartName"))
                    types.append(el)
        for name, content in part.items():
            if name.startswith("word/media/") and name not in out:
                out[name] = content
                names.append(name)
    bodies.append(document[front_end:])
    out[DOCUMENT] = "".join(bodies).encode("utf-8")
    out[DOCUMENT_RELS] = _xml(rels)
    out[FOOTNOTES_RELS] = _xml(note_rels)
    if notes:
        xml = out[FOOTNOTES].decode("utf-8")
        close = xml.rfind("</w:footnotes>")
        if close < 0:
            raise UtkastError("the draft's opening has an empty footnotes part")
        out[FOOTNOTES] = (xml[:close] + "".join(notes) + xml[close:]).encode("utf-8")
    out[STYLES] = _xml(styles)
    _join_numbering(numbering, new_abstract, new_nums)
    out[NUMBERING] = _xml(numbering)
    out[TYPES] = _xml(types)
    return _zip(names, out)


def _join_numbering(numbering, abstract: list, nums: list) -> None:
    """List definitions first, then the lists (the order Word's schema wants)."""
    first_num = numbering.find(f"{{{W_NS}}}num")
    for el in abstract:
        if first_num is not None:
            first_num.addprevious(el)
        else:
            numbering.append(el)
    last = [el for el in numbering if el.tag in (f"{{{W_NS}}}num", f"{{{W_NS}}}abstractNum")]
    anchor = last[-1] if last else None
    for el in nums:
        if anchor is not None:
            anchor.addnext(el)
        else:
            numbering.append(el)
        anchor = el


def _xml(root) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
