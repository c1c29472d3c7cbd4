"""The text of Word documents, paragraph by paragraph: the draft's text record with the
owner of every paragraph, and a reviewer's returned copy with its comments and tracked
changes.

Both are read straight from the zip with lxml's safe parser (no entities, no DTD, no
network), so a reviewer's file is only read after it has passed screening like any inbox
file. The same walk over ``w:p`` elements is used for the record, the redline and the
returned copies, which is what lets a paragraph of one be found in another.
"""

from __future__ import annotations

import io
import posixpath
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field

from lxml import etree

from tasks.core.config import Config
from tasks.core.wordml import (
    OBJECT,
    REDLINE_AUTHOR,
    SAFE_XML,
    Bit,
    body_of,
    body_paragraphs,
    local,
    paragraph_bits,
    w,
)

REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
MAIN_TYPE = "wordprocessingml.document.main+xml"

def original_text(p) -> str:
    return "".join(b.text for b in paragraph_bits(p) if b.in_original())


def text_paragraphs(body) -> list[tuple[object, str]]:
    """(element, text) of the paragraphs that hold text, in order: the unit of the draft's
    text record, of the redline and of matching a returned copy."""
    found = []
    for p in body_paragraphs(body):
        text = original_text(p)
        if normalise(text):
            found.append((p, text))
    return found


def normalise(text: str) -> str:
    """Text as compared between documents: NFC, objects dropped, whitespace folded."""
    return " ".join(unicodedata.normalize("NFC", text).replace(OBJECT, " ").split())


def in_table(p) -> bool:
    return any(local(a) == "tc" for a in p.iterancestors())


# --- the package ----------------------------------------------------------------------


class DocxPackage:
    """The parts of a .docx that matter here: the main document, its styles and comments."""

    def __init__(self, data: bytes):
        self.data = data
        self.zip = zipfile.ZipFile(io.BytesIO(data))
        self.names = set(self.zip.namelist())
        self.main = self._main_part()
        self._rels = None

    def _main_part(self) -> str:
        if "[Content_Types].xml" in self.names:
            types = etree.fromstring(self.zip.read("[Content_Types].xml"), SAFE_XML)
            for override in types.iter(f"{{{CT_NS}}}Override"):
                if MAIN_TYPE in (override.get("ContentType") or ""):
                    return override.get("PartName", "").lstrip("/")
        return "word/document.xml"

    def xml(self, name: str):
        return etree.fromstring(self.zip.read(name), SAFE_XML)

    def related(self, kind: str) -> str | None:
        """The part the main document relates to with a relationship of ``kind``."""
        if self._rels is None:
            folder, base = posixpath.split(self.main)
            rels = posixpath.join(folder, "_rels", base + ".rels")
            self._rels = []
            if rels in self.names:
                for rel in self.xml(rels).iter(f"{{{REL_NS}}}Relationship"):
                    target = rel.get("Target", "")
                    path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                        posixpath.join(folder, target))
                    self._rels.append((rel.get("Type", ""), path))
        for type_, path in self._rels:
            if type_.endswith("/" + kind) and path in self.names:
                return path
        return None

    def document(self):
        return self.xml(self.main)

    def style_names(self) -> dict[str, str]:
        part = self.related("styles")
        if not part:
            return {}
        names = {}
        for style in self.xml(part).iter(w("style")):
            name = style.find(w("name"))
            names[style.get(w("styleId"), "")] = name.get(w("val"), "") if name is not None else ""
        return names

    def comments(self) -> dict[str, dict]:
        part = self.related("comments")
        if not part:
            return {}
        found = {}
        for c in self.xml(part).iter(w("comment")):
            text = "\n".join("".join(b.text for b in paragraph_bits(p) if b.in_current()).strip()
                             for p in c.iter(w("p"))).strip()
            found[c.get(w("id"), "")] = {"author": c.get(w("author"), ""), "date": c.get(w("date"), ""),
                                         "initials": c.get(w("initials"), ""), "text": text}
        return found


# --- the draft's text record ----------------------------------------------------------

HEADING = re.compile(r"heading\s*([1-9])$", re.I)
PAKET_HEADING = re.compile(r"Paket\s+(\d+)\.")
PIECE_HEADING = re.compile(r"([1-9]\.[1-9])\s")


def style_level(style_id: str, names: dict[str, str]) -> int:
    """Heading level of a paragraph style (0 for body text)."""
    for candidate in (names.get(style_id, ""), style_id):
        m = HEADING.search(candidate.replace("Heading", "heading "))
        if m:
            return int(m.group(1))
    return 0


def paragraph_style(p) -> str:
    style = p.find(f"{w('pPr')}/{w('pStyle')}")
    return style.get(w("val"), "") if style is not None else ""


def read_draft_text(data: bytes, config: Config) -> list[dict]:
    """The text record of a draft .docx: one entry per paragraph with text, with its owner
    (:func:`with_owners`)."""
    package = DocxPackage(data)
    names = package.style_names()
    raw = []
    for p, text in text_paragraphs(body_of(package.document())):
        style = paragraph_style(p)
        raw.append([text, style, style_level(style, names), in_table(p)])
    return with_owners(raw, config)


def with_owners(paragraphs: list[list], config: Config) -> list[dict]:
    """The text record from a draft's paragraphs in order (``[text, style, level, in a
    table]``), each with its owner.

    The owner follows the headings utkast writes (``templates/section.md.j2``): level 1
    ``Paket <n>. …``, level 2 ``<piece> …``, level 3 ``<partner short name>: <title>``;
    partners' own headings start at level 4. Text before the first paket is the opening
    (no owner).
    """
    shorts = sorted(((p.short, p.slug) for p in config.registry.partners), key=lambda s: -len(s[0]))
    owner = {"paket": None, "piece": None, "partner": None}
    record = []
    for text, style, level, table in paragraphs:
        if 1 <= level <= 3:
            plain = normalise(text)
            if level == 1:
                m = PAKET_HEADING.match(plain)
                number = int(m.group(1)) if m else None
                known = any(pk.number == number for pk in config.outline.paket)
                owner = {"paket": number if known else None, "piece": None, "partner": None}
            elif level == 2 and owner["paket"] is not None:
                m = PIECE_HEADING.match(plain + " ")
                piece = m.group(1) if m and m.group(1) in config.outline.pieces else None
                if piece and config.outline.pieces[piece].paket != owner["paket"]:
                    piece = None
                owner = {"paket": owner["paket"], "piece": piece, "partner": None}
            elif level == 3 and owner["piece"] is not None:
                partner = next((slug for short, slug in shorts if plain.startswith(short + ":")), None)
                owner = {**owner, "partner": partner}
        record.append({"text": text, "style": style, "level": level, "table": table, **owner})
    return record


# --- a reviewer's returned copy ---------------------------------------------------------


@dataclass
class Mark:
    """A comment or a tracked change in a returned copy, placed on a paragraph."""

    kind: str  # comment | insert | delete | replace
    ident: str  # the element's w:id in the file
    author: str
    date: str
    paragraph: int | None  # index into Returned.paragraphs
    anchor: str = ""  # the commented words (comments) / the paragraph's words around a change
    text: str = ""  # the comment
    inserted: str = ""
    deleted: str = ""


@dataclass
class Returned:
    paragraphs: list[str]  # original text of every body paragraph (may be empty)
    marks: list[Mark] = field(default_factory=list)


def read_returned(data: bytes) -> Returned:
    """Paragraphs, comments and tracked changes of a reviewer's copy of a draft."""
    package = DocxPackage(data)
    comments = package.comments()
    paragraphs, marks = [], []
    anchors: dict[str, list[str]] = {}
    placed: dict[str, int] = {}
    active: list[str] = []
    for index, p in enumerate(body_paragraphs(body_of(package.document()))):
        bits = list(paragraph_bits(p))
        paragraphs.append("".join(b.text for b in bits if b.in_original()))
        for b in bits:
            if b.mark:
                kind, ident = b.mark
                if kind == "start" and ident not in active:
                    active.append(ident)
                    anchors.setdefault(ident, [])
                    placed.setdefault(ident, index)
                elif kind == "end" and ident in active:
                    active.remove(ident)
                elif kind == "ref":
                    placed.setdefault(ident, index)
            elif b.in_current():
                for ident in active:
                    anchors[ident].append(b.text)
        for ident in active:  # a comment spanning paragraphs: a space between them
            anchors[ident].append(" ")
        current = "".join(b.text for b in bits if b.in_current())
        marks.extend(_revisions(bits, index, current))
    for ident, c in comments.items():
        marks.append(Mark("comment", ident, c["author"], c["date"], placed.get(ident),
                          anchor=normalise("".join(anchors.get(ident, []))), text=c["text"]))
    return Returned(paragraphs, marks)


def _revisions(bits: list[Bit], index: int, current: str) -> list[Mark]:
    """Tracked insertions and deletions in one paragraph. Adjacent pieces of the same kind
    by the same author are one change; a deletion followed directly by an insertion from
    the same author is one replacement. utkast's own changes (a redline) are skipped."""
    groups: list[list] = []  # [kind or None, author, date, ident, text]
    for b in bits:
        if b.mark:
            continue
        if b.revision is None:
            if groups and groups[-1][0] is None:
                groups[-1][4] += b.text
            else:
                groups.append([None, "", "", "", b.text])
            continue
        author = b.revision.get(w("author"), "")
        if author == REDLINE_AUTHOR:
            continue
        kind = "insert" if local(b.revision) in ("ins", "moveTo") else "delete"
        if groups and groups[-1][0] == kind and groups[-1][1] == author:
            groups[-1][4] += b.text
        else:
            groups.append([kind, author, b.revision.get(w("date"), ""), b.revision.get(w("id"), ""), b.text])
    marks: list[Mark] = []
    for i, (kind, author, date, ident, text) in enumerate(groups):
        if kind is None or not normalise(text):
            continue
        before = groups[i - 1] if i else None
        if kind == "insert" and marks and before and before[0] == "delete" and before[1] == author \
                and marks[-1].kind == "delete" and marks[-1].ident == before[3]:
            marks[-1].kind, marks[-1].inserted = "replace", normalise(text)
            continue
        mark = Mark(kind, ident, author, date, index, anchor=normalise(current))
        if kind == "insert":
            mark.inserted = normalise(text)
        else:
            mark.deleted = normalise(text)
        marks.append(mark)
    return marks
