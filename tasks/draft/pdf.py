"""The draft as a PDF (PDF/UA-1), laid out by Typst in parts of bounded size.

Typst lays a document out whole and holds all of it in memory, about 450 bytes for each
character of source: 1.35 GB for the 2.8 MB of Typst that 238 `plain` reports make, 8.6 GB at
1,500. So a draft whose paket make more than ``PART_CHARS`` characters is laid out part by
part (:func:`parts`), each part starting where the previous one ended (page number,
footnotes, figures). The opening is laid out last, with a table of contents made from the
parts' headings and pages, and :func:`join_pdfs` joins them into one document with one
structure tree, bookmarks, page labels and named destinations (pikepdf). A smaller draft is
one Typst document, with the table of contents Typst makes.

Every layout runs in a process of its own (``python -m tasks.draft.pdf``): Typst keeps its
caches for the life of the process (they grew 170 MB for each part compiled in one process),
and the command or worker that renders the draft should not grow with the draft.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tasks.core.errors import UtkastError
from tasks.core.templating import fill

# The standard every published PDF conforms to: Typst checks it while it compiles (an image
# or equation without a description, a skipped heading level, no title or language, a
# character no font can show stop the PDF) and declares it in the PDF's metadata
# (pdfuaid:part 1). docs/accessibility.md.
PDF_STANDARD = "ua-1"
UNSHOWN = re.compile(r'could not be displayed with font')
UNSHOWN_TEXT = re.compile(r'the text `"((?:[^"\\]|\\.)*)"`')
# In place of a character no font has (an emoji, say): a "?" means the same in Typst markup,
# strings and math (brackets could become a function's argument).
SHOWN_INSTEAD = "?"
GLYPH_RETRIES = 8

# Typst source per part: about 450 MB for Typst to lay out, so a part's process stays far
# below the 1.5 GB a three-format build may take at national scale.
PART_CHARS = 1_000_000

# Where a part ended, read back by a query after it is laid out: the page number its last
# page has, its counters, and its headings with where they are (for the table of contents).
PART_END = """
#let utkast-text(it) = if it.has("text") { it.text } else if it.has("children") {
  it.children.map(utkast-text).join("")
} else if it.has("body") { utkast-text(it.body) } else if it == [ ] { " " } else { "" }
#context [#metadata((
  pages: counter(page).final().first(),
  footnote: counter(footnote).final().first(),
  table: counter(figure.where(kind: table)).final().first(),
  image: counter(figure.where(kind: image)).final().first(),
  raw: counter(figure.where(kind: raw)).final().first(),
  equation: counter(math.equation).final().first(),
  headings: query(heading.where(outlined: true)).map(h => (
    level: h.level, title: utkast-text(h.body),
    number: counter(page).at(h.location()).first(),
    page: h.location().page(), y: h.location().position().y / 1pt,
  )),
)) <utkast-del-slut>]
"""
EMPTY_END = {"pages": 0, "footnote": 0, "table": 0, "image": 0, "raw": 0, "equation": 0, "headings": []}

# The opening's table of contents when the draft is laid out in parts: Typst's look (title,
# entries indented by level, dotted leaders, page numbers), each entry a link that
# :func:`join_pdfs` points at its heading.
TOC_LINK = "utkast-innehall:"
TOC_DEPTH = 3  # as pandoc's toc-depth for the table of contents Typst makes
TOC = """
#heading(outlined: false)[Innehåll]
#for (i, entry) in json("innehall.json").enumerate() {
  block(inset: (left: (entry.level - 1) * 1.2em), above: 0.6em, below: 0.6em,
    link("%s" + str(i))[#entry.title #box(width: 1fr, repeat[.]) #str(entry.number)])
}
""" % TOC_LINK


def parts(pieces: list[tuple[str, bool]], limit: int = PART_CHARS) -> list[list[str]]:
    """The paket's Typst ``pieces`` (text, whether a part may begin with it: a frame's chunk,
    not a report), in order, in consecutive parts of at most ``limit`` characters where they
    can be: a part begins only with a frame's chunk that opens with a heading, so a heading
    is never parted from the report under it; what cannot be parted is a part of its own.
    One part when everything fits."""
    found: list[list[str]] = [[]]
    size = 0
    for text, may_begin in pieces:
        if found[-1] and size + len(text) > limit and may_begin and text.lstrip().startswith("="):
            found.append([])
            size = 0
        found[-1].append(text)
        size += len(text)
    return found


HEADING = re.compile(r"^(=+) (.+)$", re.M)  # pandoc's Typst: a heading is one line


def open_headings(before: list[str], stack: list[str] | None = None) -> list[str]:
    """The headings still open after the pieces ``before`` (added to ``stack``, one markup per
    level, outermost first)."""
    stack = list(stack or [])
    for piece in before:
        for m in HEADING.finditer(piece):
            level = len(m.group(1))
            stack = stack[:level - 1] + [""] * (level - 1 - len(stack)) + [m.group(2)]
    return stack


def headed(group: list[str], stack: list[str]) -> str:
    """The headings above a part's first heading, repeated "(forts.)" at its top and kept out of
    the contents and bookmarks: PDF/UA has a document open with a level-1 heading and skip
    no level (a part may begin with a report under a paket and a piece)."""
    first = HEADING.search("\n\n".join(group))
    level = len(first.group(1)) if first else 1
    return "".join(f"#heading(level: {n}, outlined: false)[{stack[n - 1] if n <= len(stack) else ''} (forts.)]\n"
                   for n in range(1, level))


def continued(end: dict) -> str:
    """Typst that continues a part's numbering where the previous part (its ``end``) ended."""
    counters = [("page", end["pages"] + 1), ("footnote", end["footnote"]),
                ("figure.where(kind: table)", end["table"]), ("figure.where(kind: image)", end["image"]),
                ("figure.where(kind: raw)", end["raw"]), ("math.equation", end["equation"])]
    return "\n".join(f"#counter({name}).update({value})" for name, value in counters) + "\n"


def typst_string(text: str) -> str:
    """``text`` as a Typst string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_pdf(shells: dict[str, str], marker: str, toc_marker: str, pieces: list[tuple[str, bool]],
              title: str, workdir: Path, limit: int | None = None) -> Path:
    """Lay the draft out into ``workdir/utkast.pdf``. ``shells``: the opening with Typst's
    table of contents (``typst``), the opening with ``toc_marker`` (``typst_front``) and a
    part's shell (``typst_part``), each with ``marker`` where the paket go; ``pieces`` as
    :func:`parts` takes them."""
    groups = parts([(text.strip("\n"), frame) for text, frame in pieces if text.strip()], limit or PART_CHARS)
    target = workdir / "utkast.pdf"
    if len(groups) == 1:
        single = workdir / "utkast.typ"
        opening = '#set page(numbering: "1")\n' + continued(EMPTY_END)  # the paket from page 1
        single.write_text(fill(shells["typst"], marker, opening + "\n\n".join(groups[0])), encoding="utf-8")
        lay_out(single, workdir, target)
        return target
    end, laid_out, levels, entries, stack = dict(EMPTY_END), [], [], [], []
    for n, group in enumerate(groups, start=1):
        source = workdir / f"del-{n}.typ"
        preamble = f"#set document(title: {typst_string(title)})\n" + continued(end) + headed(group, stack)
        stack = open_headings(group, stack)
        source.write_text(fill(shells["typst_part"], marker, preamble + "\n\n".join(group)) + PART_END,
                          encoding="utf-8")
        laid_out.append(source.with_suffix(".pdf"))
        end = lay_out(source, workdir, laid_out[-1], query=True)
        levels.append([heading["level"] for heading in end["headings"]])
        entries += [{**heading, "part": n - 1} for heading in end["headings"] if heading["level"] <= TOC_DEPTH]
    (workdir / "innehall.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    front = workdir / "oppning.typ"
    front.write_text(fill(shells["typst_front"], toc_marker, TOC), encoding="utf-8")
    lay_out(front, workdir, front.with_suffix(".pdf"))
    join_pdfs(front.with_suffix(".pdf"), list(zip(laid_out, levels)), entries, target)
    return target


def lay_out(source: Path, root: Path, target: Path, query: bool = False) -> dict:
    """Compile ``source`` into ``target`` in a process of its own; with ``query``, return
    where it ended (:data:`PART_END`)."""
    done = subprocess.run([sys.executable, "-m", "tasks.draft.pdf", str(source), str(root), str(target),
                           "query" if query else "-"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=3600)
    if done.returncode != 0:
        raise UtkastError(done.stderr.strip()[-1000:] or f"Typst stopped ({done.returncode})")
    return json.loads(done.stdout) if query else {}


def compile_pdf(typ_path: Path, root: Path, target: Path | None = None, query: str | None = None):
    """Compile the Typst source under PDF/UA-1 into ``target`` (by default beside it), in
    this process. Characters that no available font can show (which PDF/UA forbids: a reader
    would get an empty box) are written as "?": on the first such error every character
    outside the Basic Multilingual Plane (emoji and the like), then those Typst names, a few
    times at most. With ``query`` (a Typst selector), return the first match's value."""
    import typst

    target = target or typ_path.with_suffix(".pdf")
    for attempt in range(GLYPH_RETRIES + 1):
        compiler = typst.Compiler(str(typ_path), root=str(root), ignore_system_fonts=False)
        try:
            data = compiler.compile(pdf_standards=[PDF_STANDARD])
            break
        except typst.TypstError as exc:
            if attempt == GLYPH_RETRIES or not UNSHOWN.search(exc.message):
                raise
            source = typ_path.read_text(encoding="utf-8")
            typ_path.write_text(without_unshown(source, exc.message, everything_astral=attempt == 0),
                                encoding="utf-8")
    target.write_bytes(data)
    if query is None:
        return target
    return json.loads(compiler.query(query, one=True))["value"]


def without_unshown(source: str, message: str, everything_astral: bool = False) -> str:
    """``source`` with the characters Typst's ``message`` says no font can show (never ASCII
    or Latin letters) written as "?", and with ``everything_astral`` every character
    outside the Basic Multilingual Plane too."""
    found = UNSHOWN_TEXT.search(message)
    text = re.sub(r"\\(.)", r"\1", found.group(1)) if found else ""
    chars = {c for c in text if ord(c) > 0x24F}
    if everything_astral:
        chars |= {c for c in source if ord(c) > 0xFFFF}
    if not chars:
        raise UtkastError(f"a character no font can show, not found in the source: {message[:200]}")
    return re.sub("|".join(map(re.escape, sorted(chars, key=len, reverse=True))), SHOWN_INSTEAD, source)


def join_pdfs(front: Path, laid_out: list[tuple[Path, list[int]]], entries: list[dict], target: Path) -> None:
    """Join the opening and the parts into ``target``: the parts' pages after the opening's,
    their structure elements in the opening's Document element (marked-content keys moved
    past the opening's), their page labels and named destinations after the opening's, their
    bookmarks (``laid_out``: each part with its bookmarked headings' levels, in order) each
    under the last one of the level above. The opening's table-of-contents links
    (:data:`TOC_LINK` ``i``) go to the heading of ``entries[i]``: its ``part``, ``page`` in the
    part (from 1), ``y`` from the top in pt and ``title``."""
    import pikepdf

    pdf = pikepdf.open(front)
    sources = []  # open until saved: pikepdf copies page content lazily
    root = pdf.Root
    tree = root.StructTreeRoot
    document = tree.K[0] if isinstance(tree.K, pikepdf.Array) else tree.K
    if not isinstance(document.K, pikepdf.Array):
        document.K = pikepdf.Array([document.K])
    parent_tree = pikepdf.NumberTree(tree.ParentTree)
    next_key = int(tree.ParentTreeNextKey)
    if "/PageLabels" not in root:
        root.PageLabels = pikepdf.NumberTree.new(pdf).obj
    labels = pikepdf.NumberTree(root.PageLabels)
    dests = pikepdf.NameTree(root.Names.Dests) if "/Names" in root and "/Dests" in root.Names else None
    if dests is None:
        root.Names = pdf.make_indirect(pikepdf.Dictionary())
        dests = pikepdf.NameTree.new(pdf)
        root.Names.Dests = dests.obj
    role_map = tree.get("/RoleMap", pikepdf.Dictionary())
    starts = []
    bookmarks = Bookmarks(pdf)
    for path, heading_levels in laid_out:
        src = pikepdf.open(path)
        sources.append(src)
        first = len(pdf.pages)
        starts.append(first)
        pdf.pages.extend(src.pages)
        key = next_key
        for page in pdf.pages[first:]:
            if "/StructParents" in page:
                page.StructParents = int(page.StructParents) + key
            for annot in page.get("/Annots", []):
                if "/StructParent" in annot:
                    annot.StructParent = int(annot.StructParent) + key
        src_tree = src.Root.StructTreeRoot
        src_document = src_tree.K[0] if isinstance(src_tree.K, pikepdf.Array) else src_tree.K
        del src_document["/P"]  # the part's tree root stays behind
        kids = src_document.K if isinstance(src_document.K, pikepdf.Array) else [src_document.K]
        for kid in kids:
            copied = _copy(pdf, kid)
            if isinstance(copied, pikepdf.Dictionary):
                copied.P = document
            document.K.append(copied)
        for k, elements in pikepdf.NumberTree(src_tree.ParentTree).items():
            parent_tree[k + key] = _copy(pdf, elements)
        next_key = key + int(src_tree.ParentTreeNextKey)
        for name, role in src_tree.get("/RoleMap", {}).items():
            role_map[name] = role
        for k, label in pikepdf.NumberTree(src.Root.get("/PageLabels", pikepdf.Dictionary(Nums=[]))).items():
            labels[k + first] = _copy(pdf, label)
        if "/Names" in src.Root and "/Dests" in src.Root.Names:
            for name, dest in pikepdf.NameTree(src.Root.Names.Dests).items():
                if name not in dests:
                    dests[name] = _copy(pdf, dest)
        if "/Outlines" in src.Root and "/First" in src.Root.Outlines:
            bookmarks.append(pdf.copy_foreign(src.Root.Outlines), heading_levels)
    bookmarks.count()
    tree.ParentTreeNextKey = next_key
    tree.RoleMap = role_map
    _point_contents(pdf, starts, entries)
    pdf.save(target)
    for src in sources:
        src.close()
    pdf.close()


def _point_contents(pdf, starts: list[int], entries: list[dict]) -> None:
    """The opening's table-of-contents links (:data:`TOC_LINK` ``i``) to ``entries[i]``'s
    heading in the joined document (``starts``: each part's first page), described by it."""
    import pikepdf

    for page in pdf.pages[:starts[0] if starts else len(pdf.pages)]:
        for annot in page.get("/Annots", []):
            action = annot.get("/A")
            uri = str(action.get("/URI", "")) if action is not None else ""
            if uri.startswith(TOC_LINK):
                entry = entries[int(uri.removeprefix(TOC_LINK))]
                annot.Contents = pikepdf.String(entry["title"])  # what a screen reader says, not the link
                goal = pdf.pages[starts[entry["part"]] + entry["page"] - 1]
                height = float(goal.mediabox[3])
                annot.Dest = pikepdf.Array([goal.obj, pikepdf.Name.XYZ, 0, height - entry["y"], 0])
                del annot["/A"]


def _copy(pdf, obj):
    """``obj`` of another PDF, as an object of ``pdf`` (pikepdf copies only indirect objects;
    what they refer to that ``pdf`` has already copied, its pages say, is not copied again)."""
    import pikepdf

    if isinstance(obj, pikepdf.Object) and obj.is_indirect:
        return pdf.copy_foreign(obj)
    if isinstance(obj, pikepdf.Array):
        return pikepdf.Array([_copy(pdf, item) for item in obj])
    if isinstance(obj, pikepdf.Dictionary):
        return pikepdf.Dictionary({key: _copy(pdf, value) for key, value in obj.items()})
    return obj


def _children(item):
    child = item.get("/First")
    while child is not None:
        yield child
        child = child.get("/Next")


class Bookmarks:
    """The joined document's bookmarks: a part's bookmark goes under the last bookmark of
    the level above it, wherever in the draft that is (a part may begin inside a paket, and
    Typst puts a part's first bookmarks at its top level)."""

    def __init__(self, pdf):
        import pikepdf

        if "/Outlines" not in pdf.Root:
            pdf.Root.Outlines = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Outlines))
        self.root = pdf.Root.Outlines
        self.last: dict[int, object] = {}  # level -> the last bookmark of that level so far
        for item in _children(self.root):  # the opening's own (none as rendered)
            self.last = {1: item}

    def append(self, outline, levels: list[int]) -> None:
        """The bookmarks of ``outline`` (a part's, copied into the document) in place;
        ``levels``: their headings' levels in reading order."""
        order = []

        def walk(item, top):
            order.append((item, top))
            for child in _children(item):
                walk(child, False)

        for item in list(_children(outline)):
            walk(item, True)
        if len(order) != len(levels):  # not the headings read back: keep them, at the top
            levels = [1] * len(order)
        for (item, top), level in zip(order, levels):
            if top:
                parent = next((self.last[n] for n in range(level - 1, 0, -1) if n in self.last), self.root)
                self._attach(item, parent)
            self.last = {n: b for n, b in self.last.items() if n < level} | {level: item}

    @staticmethod
    def _attach(item, parent) -> None:
        for key in ("/Prev", "/Next"):
            if key in item:
                del item[key]
        item.Parent = parent
        if "/Last" in parent:
            parent.Last.Next = item
            item.Prev = parent.Last
        else:
            parent.First = item
        parent.Last = item

    def count(self) -> None:
        """Every bookmark's /Count again: the bookmarks shown under an open one, negative
        under a closed one (as each part had them)."""

        def shown(item) -> int:
            total = 0
            for child in _children(item):
                below = shown(child)
                total += 1 + (below if int(child.get("/Count", 1)) > 0 else 0)
            if "/First" in item:
                is_root = item.objgen == self.root.objgen
                item.Count = total if is_root or int(item.get("/Count", 1)) > 0 else -total
            return total

        shown(self.root)


def main(argv: list[str]) -> int:
    source, root, target, query = argv
    end = compile_pdf(Path(source), Path(root), Path(target), "<utkast-del-slut>" if query == "query" else None)
    if query == "query":
        print(json.dumps(end))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception as exc:  # one line for the draft's problems, never a traceback
        print(" ".join(str(getattr(exc, "message", None) or exc).split()), file=sys.stderr)
        sys.exit(1)
