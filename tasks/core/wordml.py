"""WordprocessingML, read the one way utkast reads it: the paragraphs of a document's body
in reading order, and each paragraph as "bits" in document order (characters, tabs,
breaks, objects, comment marks) with the run, hyperlink and tracked change around them.

The draft's text record, the redline, reviewers' returned copies and the language review
of partners' Word files all walk paragraphs with these two functions, which is what lets
a paragraph of one be found in another. Works on plain lxml trees and on python-docx's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from lxml import etree

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"

# The author of the tracked changes utkast writes into a redline; a reviewer's copy of a
# redline is read as the newer draft (our insertions kept, our deletions left out).
REDLINE_AUTHOR = "utkast"
# Stands for an object inside a paragraph (picture, footnote reference, symbol).
OBJECT = "\ufffc"
# The one way utkast parses XML from outside: no entities, no DTD, nothing from the network.
SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def w(tag: str) -> str:
    return f"{{{W_NS}}}{tag}"


def local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


# Inline wrappers whose runs belong to the paragraph's text.
CONTAINERS = {"hyperlink", "smartTag", "customXml", "fldSimple", "ins", "del", "moveFrom", "moveTo",
              "sdt", "sdtContent", "dir", "bdo"}
REVISIONS = {"ins", "del", "moveFrom", "moveTo"}
# Run children that are not text and not an object of their own.
IGNORED = {"rPr", "lastRenderedPageBreak", "commentReference", "annotationRef", "footnoteRef",
           "endnoteRef", "separator", "continuationSeparator", "softHyphen", "proofErr", "fldChar",
           "instrText", "delInstrText", "rPrChange"}
COMMENT_MARKS = {"commentRangeStart": "start", "commentRangeEnd": "end"}


@dataclass
class Bit:
    """One bit of a paragraph in document order: text (a character run, a tab, a break or
    an object) or a comment mark."""

    text: str = ""
    run: object = None  # the w:r it comes from
    node: object = None  # the run child (w:t, w:tab, w:drawing …)
    link: object = None  # the innermost w:hyperlink around it
    revision: object = None  # the innermost w:ins/w:del/w:moveFrom/w:moveTo around it
    mark: tuple[str, str] | None = None  # ("start" | "end" | "ref", comment id)

    def in_original(self) -> bool:
        """Part of the text as utkast sent it: a reviewer's insertions are not, their
        deletions are; in a redline our own insertions are and our deletions are not."""
        if self.mark:
            return False
        if self.revision is None:
            return local(self.node) != "delText"
        mine = self.revision.get(w("author")) == REDLINE_AUTHOR
        return mine if local(self.revision) in ("ins", "moveTo") else not mine

    def in_current(self) -> bool:
        """Part of the text as the reviewer sees it with every change accepted."""
        if self.mark:
            return False
        if self.revision is None:
            return local(self.node) != "delText"
        return local(self.revision) in ("ins", "moveTo")


def paragraph_bits(p) -> Iterator[Bit]:
    """The bits of paragraph ``p`` in document order."""
    yield from _bits(p, None, None)


def _bits(el, link, revision) -> Iterator[Bit]:
    for child in el:
        name = local(child)
        if name == "r":
            yield from _run_bits(child, link, revision)
        elif name in COMMENT_MARKS:
            yield Bit(mark=(COMMENT_MARKS[name], child.get(w("id"), "")))
        elif name in CONTAINERS:
            yield from _bits(child, child if name == "hyperlink" else link,
                             child if name in REVISIONS else revision)
        # pPr, bookmarks, proofErr, permissions …: not text


def node_text(node) -> str:
    """The text one child of a ``w:r`` stands for: its characters (``w:t``, ``w:delText``),
    a tab, a line break (every ``w:br``, also page breaks: words on both sides stay
    apart), a hyphen, :data:`OBJECT` for a picture, footnote reference or symbol, and ""
    for what is not text (formatting, field codes, comment references)."""
    name = local(node)
    if name in ("t", "delText"):
        return node.text or ""
    if name in ("tab", "ptab"):
        return "\t"
    if name in ("br", "cr"):
        return "\n"
    if name == "noBreakHyphen":
        return "-"
    if name in IGNORED or not name:
        return ""
    return OBJECT  # drawing, footnoteReference, sym, object, AlternateContent …


def run_text(run) -> str:
    """The characters of a run (objects left out)."""
    return "".join(t for t in map(node_text, run) if t != OBJECT)


def _run_bits(run, link, revision) -> Iterator[Bit]:
    for node in run:
        if local(node) == "commentReference":
            yield Bit(mark=("ref", node.get(w("id"), "")))
            continue
        text = node_text(node)
        if text:
            yield Bit(text, run, node, link, revision)


def body_paragraphs(body) -> Iterator[object]:
    """Every ``w:p`` of the body in reading order, table cells included; the table of
    contents (a field Word fills in) is left out."""
    for child in body:
        name = local(child)
        if name == "p":
            yield child
        elif name == "sdt":
            gallery = child.find(f"{w('sdtPr')}/{w('docPartObj')}/{w('docPartGallery')}")
            if gallery is not None and "Contents" in (gallery.get(w("val")) or ""):
                continue
            content = child.find(w("sdtContent"))
            if content is not None:
                yield from body_paragraphs(content)
        elif name in ("tbl", "tr", "tc", "sdtContent", "customXml", "ins", "del", "moveFrom", "moveTo"):
            yield from body_paragraphs(child)


def body_of(document):
    body = document.find(w("body"))
    if body is None:
        raise ValueError("the document has no body")
    return body
