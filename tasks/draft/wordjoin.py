"""Word parts: a batch of the draft's parts split into pieces of Word markup, and pieces
joined into one document.

The draft's reports and paket frames are rendered in batches (``tasks/core/lua/parts.lua``)
into one Word document per batch, each unit after a marker paragraph. :func:`split_units`
cuts that document into one piece per unit: its body markup and everything the markup
refers to (footnotes, links and images, list definitions, styles pandoc added), with
the numbers that must be unique in a document (footnote and other ``w:id`` ids, list ids,
picture ids, relationship ids) counted from one within the piece. A piece is kept until its
report or frame changes (:mod:`tasks.draft.merge`). :func:`join_docx` makes the draft from
the opening (a whole Word document with title, table of contents and front matter) and
the pieces in order, giving each piece's numbers their place after the previous piece's,
so the draft is one valid document whichever pieces were rendered when.

These functions work on pandoc's own output (markup as pandoc writes it); anything that does
not look like it raises :class:`~tasks.core.errors.UtkastError` instead of giving a broken
document.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass

from lxml import etree

from tasks.core.errors import UtkastError
from tasks.core.wordml import W_NS
from tasks.core.wordtext import in_table, paragraph_style, style_level, text_paragraphs

DOCUMENT, STYLES, NUMBERING, FOOTNOTES = "word/document.xml", "word/styles.xml", "word/numbering.xml", \
    "word/footnotes.xml"
DOCUMENT_RELS, FOOTNOTES_RELS, TYPES = "word/_rels/document.xml.rels", "word/_rels/footnotes.xml.rels", \
    "[Content_Types].xml"
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
IMAGE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"
HYPERLINK_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
               "svg": "image/svg+xml", "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff",
               "emf": "image/x-emf", "wmf": "image/x-wmf", "webp": "image/webp"}

W_ID = re.compile(r'(\sw:id=")(-?\d+)"')
NUM_ID = re.compile(r'(<w:numId w:val=")(\d+)"')
NUM = re.compile(r'(<w:num w:numId=")(\d+)"')
PICTURE_ID = re.compile(r'(<(?:wp:docPr|pic:cNvPr)\b[^>]*?\sid=")(\d+)"')
REL_REF = re.compile(r'(\sr:(?:id|embed|link|pict)=")([^"]+)"')
FOOTNOTE = re.compile(r'<w:footnote\b[^>]*?(?:/>|>.*?</w:footnote>)', re.S)
NUM_ELEMENT = re.compile(r'<w:num w:numId="(\d+)"[^>]*?(?:/>|>.*?</w:num>)', re.S)
ABSTRACT_ID = re.compile(r'<w:abstractNumId w:val="(\d+)"')
STYLE_ID = re.compile(r'\sw:styleId="([^"]*)"')
ABSTRACT_ELEMENT = re.compile(r'<w:abstractNum w:abstractNumId="(\d+)"[^>]*?(?:/>|>.*?</w:abstractNum>)', re.S)


def _entries(data: bytes) -> tuple[list[str], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
        return [i.filename for i in infos], {i.filename: z.read(i) for i in infos}


def _body(xml: str, what: str) -> tuple[int, int]:
    """Where the body's content starts and where its final section properties begin."""
    start = xml.find("<w:body>")
    end = xml.rfind("<w:sectPr")
    if start < 0 or end < start:
        end = xml.rfind("</w:body>")
    if start < 0 or end < start:
        raise UtkastError(f"{what} has no document body")
    return start + len("<w:body>"), end


def _relationships(xml: bytes | None) -> dict[str, tuple[str, str, str]]:
    """Relationship id -> (type, target, target mode)."""
    if not xml:
        return {}
    return {r.get("Id"): (r.get("Type", ""), r.get("Target", ""), r.get("TargetMode", ""))
            for r in etree.fromstring(xml, PARSER).iter(f"{{{REL_NS}}}Relationship")}


def reference_styles(reference_docx: bytes) -> set[str]:
    """The style ids a reference document (templates/reference.docx) defines."""
    _, parts = _entries(reference_docx)
    return {s.get(f"{{{W_NS}}}styleId") for s in etree.fromstring(parts[STYLES], PARSER).iter(f"{{{W_NS}}}style")}


# --- splitting a batch ----------------------------------------------------------------------


def _marker_paragraphs(body: str, marker: str, what: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph holding a marker ``<marker><n>``, in order."""
    found = []
    pos = 0
    while True:
        at = body.find(marker, pos)
        if at < 0:
            return found
        start = body.rfind("<w:p>", 0, at)
        end = body.find("</w:p>", at)
        if start < 0 or end < 0 or "</w:p>" in body[start:at]:
            raise UtkastError(f"{what}: a marker outside a paragraph")
        found.append((start, end + len("</w:p>")))
        pos = end


@dataclass
class _Batch:
    """What the pieces of one batch refer to."""

    rels: dict[str, tuple[str, str, str]]
    note_rels: dict[str, tuple[str, str, str]]
    footnotes: dict[str, str]  # id -> element
    nums: dict[str, str]  # numId -> element
    abstract: dict[str, str]  # abstractNumId -> element
    styles: list[str]  # style elements beyond the reference document's
    media: dict[str, str]  # file under word/ -> its name in the media store (sha1 of the bytes)
    style_names: dict[str, str]
    root: str  # the document element's start tag (namespace declarations)


def _batch(names: list[str], parts: dict[str, bytes], reference_styles: set[str]) -> _Batch:
    notes = {}
    if FOOTNOTES in parts:
        for element in FOOTNOTE.findall(parts[FOOTNOTES].decode("utf-8")):
            ident = W_ID.search(element[:element.index(">") + 1])
            if ident and "w:type=" not in element[:element.index(">")]:
                notes[ident.group(2)] = element
    numbering = parts.get(NUMBERING, b"").decode("utf-8")
    styles, names_by_id = [], {}
    if STYLES in parts:
        for style in etree.fromstring(parts[STYLES], PARSER).iter(f"{{{W_NS}}}style"):
            ident = style.get(f"{{{W_NS}}}styleId", "")
            name = style.find(f"{{{W_NS}}}name")
            names_by_id[ident] = name.get(f"{{{W_NS}}}val", "") if name is not None else ""
            if ident not in reference_styles:
                styles.append(etree.tostring(style, encoding="unicode"))
    media = {}
    for name in names:
        if name.startswith("word/media/"):
            ext = name.rsplit(".", 1)[-1].lower()
            media[name[len("word/"):]] = f"{hashlib.sha1(parts[name]).hexdigest()}.{ext}"
    document = parts[DOCUMENT].decode("utf-8")
    root = re.search(r"<w:document\b[^>]*>", document)
    if not root:
        raise UtkastError("a batch of the draft's parts has no document element")
    return _Batch(_relationships(parts.get(DOCUMENT_RELS)), _relationships(parts.get(FOOTNOTES_RELS)), notes,
                  {m.group(1): m.group(0) for m in NUM_ELEMENT.finditer(numbering)},
                  {m.group(1): m.group(0) for m in ABSTRACT_ELEMENT.finditer(numbering)},
                  styles, media, names_by_id, root.group(0))


class _Local:
    """Numbers of one piece counted from one: each kind in its own map."""

    def __init__(self):
        self.ids: dict[str, str] = {}
        self.nums: dict[str, str] = {}
        self.pictures: dict[str, str] = {}
        self.rels: dict[str, str] = {}
        self.note_rels: dict[str, str] = {}

    @staticmethod
    def _map(table: dict, value: str, fmt: str = "{}") -> str:
        if value not in table:
            table[value] = fmt.format(len(table) + 1)
        return table[value]

    def renumber(self, xml: str, rels: dict) -> str:
        return _rewrite_ids(xml, lambda v: self._map(self.ids, v), lambda v: self._map(self.nums, v),
                            lambda v: self._map(self.pictures, v), lambda v: self._map(rels, v, "r{}"))


def _rewrite_ids(xml: str, w_id, num_id, picture_id, rel) -> str:
    """``xml`` with each footnote/bookmark id, list number, picture id and relationship id
    replaced by what ``w_id``, ``num_id``, ``picture_id`` and ``rel`` give for the old one."""
    if ' w:id="' in xml:
        xml = W_ID.sub(lambda m: f'{m.group(1)}{w_id(m.group(2))}"', xml)
    if "<w:numId " in xml:
        xml = NUM_ID.sub(lambda m: f'{m.group(1)}{num_id(m.group(2))}"', xml)
    if "<wp:docPr" in xml or "<pic:cNvPr" in xml:
        xml = PICTURE_ID.sub(lambda m: f'{m.group(1)}{picture_id(m.group(2))}"', xml)
    if " r:" in xml:
        xml = REL_REF.sub(lambda m: f'{m.group(1)}{rel(m.group(2))}"', xml)
    return xml


def _piece(chunks: list[str], batch: _Batch, what: str) -> dict:
    """One unit's piece from its body markup (a frame: the markup between its report places)."""
    local = _Local()
    chunks = [local.renumber(c, local.rels) for c in chunks]
    referenced = [k for k, v in list(local.ids.items())]  # the batch's footnote ids the body refers to
    footnotes = []
    for old in referenced:
        if old in batch.footnotes:
            footnotes.append(local.renumber(batch.footnotes[old], local.note_rels))
    nums, abstract = {}, {}
    for old, new in list(local.nums.items()):
        element = batch.nums.get(old)
        if element is None:
            raise UtkastError(f"{what}: list {old} has no definition")
        nums[new] = NUM.sub(lambda m: f'{m.group(1)}{new}"', element, count=1)
        for ident in ABSTRACT_ID.findall(element):
            abstract[ident] = batch.abstract[ident]
    media = {}

    def relations(mapping: dict, source: dict) -> list:
        found = []
        for old, new in mapping.items():
            if old not in source:
                raise UtkastError(f"{what}: relationship {old} is missing")
            kind, target, mode = source[old]
            if kind == IMAGE_REL:
                name = batch.media.get(target)
                if name is None:
                    raise UtkastError(f"{what}: image {target} is missing")
                media[new] = name
                target = f"media/{name}"
            elif kind != HYPERLINK_REL:
                raise UtkastError(f"{what}: a relationship of type {kind} in a part")
            found.append([new, kind, target, mode])
        return found

    return {"chunks": chunks, "footnotes": footnotes, "rels": relations(local.rels, batch.rels),
            "note_rels": relations(local.note_rels, batch.note_rels), "nums": nums, "abstract": abstract,
            "styles": batch.styles, "media": sorted(set(media.values())),
            "paragraphs": [_paragraphs(c, batch) for c in chunks]}


def _paragraphs(chunk: str, batch: _Batch) -> list[list]:
    """The text record of a piece's markup without owners: [text, style, level, in a table]."""
    if not chunk.strip():
        return []
    root = etree.fromstring(f"{batch.root}<w:body>{chunk}</w:body></w:document>".encode("utf-8"), PARSER)
    body = root.find(f"{{{W_NS}}}body")
    found = []
    for p, text in text_paragraphs(body):
        style = paragraph_style(p)
        found.append([text, style, style_level(style, batch.style_names), in_table(p)])
    return found


def split_units(data: bytes, marker: str, kinds: list[str], reference_styles: set[str]) -> list[dict]:
    """The pieces of a batch (the Word document parts.lua wrote): one per unit, in order;
    ``kinds``: "report" or "frame" per unit (a frame is cut at its report places too).
    ``reference_styles``: the style ids of templates/reference.docx (pandoc's additions are
    kept with each piece)."""
    names, parts = _entries(data)
    if DOCUMENT not in parts:
        raise UtkastError("a batch of the draft's parts has no document")
    batch = _batch(names, parts, reference_styles)
    document = parts[DOCUMENT].decode("utf-8")
    start, end = _body(document, "a batch of the draft's parts")
    body = document[start:end]
    units = _marker_paragraphs(body, marker + "U", "a batch")
    if len(units) != len(kinds) + 1:
        raise UtkastError(f"a batch of {len(kinds)} parts has {len(units) - 1} markers")
    pieces = []
    for i, kind in enumerate(kinds):
        markup = body[units[i][1]:units[i + 1][0]]
        what = f"part {i + 1} of a batch"
        if kind == "frame":
            slots = _marker_paragraphs(markup, marker + "S", what)
            cuts = [0] + [x for s, e in slots for x in (s, e)] + [len(markup)]
            chunks = [markup[cuts[k]:cuts[k + 1]] for k in range(0, len(cuts), 2)]
        else:
            chunks = [markup]
        pieces.append(_piece(chunks, batch, what))
    return pieces


# --- joining ----------------------------------------------------------------------------------


def _max(pattern: re.Pattern, xml: str, present: str) -> int:
    return max((int(v) for _, v in pattern.findall(xml)), default=0) if present in xml else 0


class _Offsets:
    """Where the next piece's numbers start in the joined document."""

    def __init__(self, document: str, footnotes: str, numbering: str):
        self.ids = max(_max(W_ID, document, " w:id="), _max(W_ID, footnotes, " w:id=")) + 1
        self.nums = _max(NUM, numbering, "<w:num ") + 1
        self.pictures = _max(PICTURE_ID, document, "id=") + 1
        self.count = 0

    def apply(self, xml: str, tag: str) -> str:
        return _rewrite_ids(xml, lambda v: int(v) + self.ids, lambda v: int(v) + self.nums,
                            lambda v: int(v) + self.pictures, lambda v: f"{tag}{v}")

    def advance(self, piece: dict) -> None:
        markup = "".join(piece["chunks"]) + "".join(piece["footnotes"])
        self.ids += _max(W_ID, markup, " w:id=") + 1
        self.nums += len(piece["nums"]) + 1
        self.pictures += _max(PICTURE_ID, markup, "id=") + 1


def join_docx(front: bytes, sequence: list[tuple[dict, int]], media: dict[str, bytes]) -> bytes:
    """The draft as one Word document: the opening ``front`` (a whole document) and then, in
    order, chunk ``k`` of each piece in ``sequence`` ((piece, k): a report's piece has one
    chunk, a frame one more than it has reports). ``media``: the image files the pieces
    name (media store name -> bytes)."""
    names, out = _entries(front)
    for name in (DOCUMENT, DOCUMENT_RELS, STYLES, NUMBERING, FOOTNOTES, FOOTNOTES_RELS, TYPES):
        if name not in out:
            raise UtkastError(f"the draft's opening has no {name}")
    document = out[DOCUMENT].decode("utf-8")
    _, front_end = _body(document, "the draft's opening")
    footnotes_xml = out[FOOTNOTES].decode("utf-8")
    numbering_xml = out[NUMBERING].decode("utf-8")
    offsets = _Offsets(document, footnotes_xml, numbering_xml)
    rels = etree.fromstring(out[DOCUMENT_RELS], PARSER)
    note_rels = etree.fromstring(out[FOOTNOTES_RELS], PARSER)
    styles = etree.fromstring(out[STYLES], PARSER)
    style_ids = {s.get(f"{{{W_NS}}}styleId") for s in styles.iter(f"{{{W_NS}}}style")}
    abstract_ids = set(m.group(1) for m in ABSTRACT_ELEMENT.finditer(numbering_xml))
    bodies, notes, new_abstract, new_nums, used_media = [document[:front_end]], [], [], [], set()
    placed: dict[int, tuple[dict, str]] = {}  # id(piece) -> (offsets applied, relationship tag)
    for piece, k in sequence:
        if id(piece) not in placed:
            tag = f"u{len(placed) + 1}"
            snapshot = _Offsets.__new__(_Offsets)
            snapshot.__dict__.update(offsets.__dict__)
            placed[id(piece)] = (snapshot, tag)
            offsets.advance(piece)
            _collect(piece, snapshot, tag, rels, note_rels, notes, styles, style_ids, abstract_ids, new_abstract,
                     new_nums, used_media)
        snapshot, tag = placed[id(piece)]
        bodies.append(snapshot.apply(piece["chunks"][k], tag))
    bodies.append(document[front_end:])
    out[DOCUMENT] = "".join(bodies).encode("utf-8")
    out[DOCUMENT_RELS] = _xml(rels)
    out[FOOTNOTES_RELS] = _xml(note_rels)
    if notes:
        close = footnotes_xml.rfind("</w:footnotes>")
        if close < 0:
            raise UtkastError("the draft's opening has an empty footnotes part")
        out[FOOTNOTES] = (footnotes_xml[:close] + "".join(notes) + footnotes_xml[close:]).encode("utf-8")
    if new_abstract or new_nums:
        out[NUMBERING] = _join_numbering(numbering_xml, new_abstract, new_nums).encode("utf-8")
    out[STYLES] = _xml(styles)
    if used_media:
        types = etree.fromstring(out[TYPES], PARSER)
        defaults = {d.get("Extension", "").lower() for d in types.iter(f"{{{CT_NS}}}Default")}
        for name in sorted(used_media):
            if name not in media:
                raise UtkastError(f"the image {name} of the draft is missing")
            ext = name.rsplit(".", 1)[-1].lower()
            if ext not in defaults:
                defaults.add(ext)
                etree.SubElement(types, f"{{{CT_NS}}}Default", Extension=ext,
                                 ContentType=IMAGE_TYPES.get(ext, "application/octet-stream"))
            out[f"word/media/{name}"] = media[name]
            names.append(f"word/media/{name}")
        out[TYPES] = _xml(types)
    return _zip(names, out)


def _collect(piece: dict, offsets: _Offsets, tag: str, rels, note_rels, notes: list, styles, style_ids: set,
             abstract_ids: set, new_abstract: list, new_nums: list, used_media: set) -> None:
    """What a piece refers to, moved into the joined document's numbers."""
    for target_root, entries in ((rels, piece["rels"]), (note_rels, piece["note_rels"])):
        for ident, kind, target, mode in entries:
            attrs = {"Id": f"{tag}{ident}", "Type": kind, "Target": target}
            if mode:
                attrs["TargetMode"] = mode
            etree.SubElement(target_root, f"{{{REL_NS}}}Relationship", attrs)
    notes += [offsets.apply(n, tag) for n in piece["footnotes"]]
    for ident, element in piece["abstract"].items():
        if ident not in abstract_ids:
            abstract_ids.add(ident)
            new_abstract.append(element)
    new_nums += [NUM.sub(lambda m: f'{m.group(1)}{int(m.group(2)) + offsets.nums}"', n, count=1)
                 for n in piece["nums"].values()]
    for element in piece["styles"]:
        ident = STYLE_ID.search(element)
        if ident and ident.group(1) in style_ids:
            continue  # pieces of one batch carry the same additions
        style = etree.fromstring(element, PARSER)
        if style.get(f"{{{W_NS}}}styleId") not in style_ids:
            style_ids.add(style.get(f"{{{W_NS}}}styleId"))
            styles.append(style)
    used_media.update(piece["media"])


def _join_numbering(numbering: str, abstract: list[str], nums: list[str]) -> str:
    """List definitions before the first list, the lists after the last (the order Word's schema wants)."""
    first = re.search(r"<w:num\b(?!bering)", numbering)
    at = first.start() if first else numbering.rfind("</w:numbering>")
    numbering = numbering[:at] + "".join(abstract) + numbering[at:]
    last = max((m.end() for m in NUM_ELEMENT.finditer(numbering)), default=-1)
    if last < 0:
        last = max((m.end() for m in ABSTRACT_ELEMENT.finditer(numbering)), default=-1)
    if last < 0:
        last = numbering.rfind("</w:numbering>")
    return numbering[:last] + "".join(nums) + numbering[last:]


def _zip(names: list[str], parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    # Level 1: the draft is compressed at every build, and its markup shrinks almost as much.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for name in names:
            dst.writestr(name, parts[name])
    return out.getvalue()


def _xml(root) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
