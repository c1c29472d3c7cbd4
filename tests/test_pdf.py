"""A large draft's PDF laid out in parts (tasks/draft/pdf.py): where parts begin, the headings
repeated at a part's top, numbering carried on, and the joined document a reader gets: one
run of page numbers, a table of contents whose numbers and links land on their headings,
bookmarks in order, one structure tree, PDF/UA declared."""

from __future__ import annotations

import io
import re

import pytest

from tasks.draft.pdf import continued, headed, open_headings, parts, write_pdf
from tests.test_accessibility import pdf_ua_part, structure


def test_a_part_begins_only_with_a_frames_chunk_that_opens_with_a_heading():
    pieces = [("= Paket 1\n== 1.1 Stycke\n=== Forum: rapport", True), ("x" * 50, False),
              ("=== Verdandi: rapport", True), ("==== Underrubrik först i rapporten\n" + "y" * 50, False),
              ("", True), ("*Delrapporten har ännu inte kommit in.*", True),
              ("== 1.2 Nästa", True), ("z" * 10, False)]
    assert parts(pieces, limit=10_000) == [[text for text, _ in pieces]]
    found = parts(pieces, limit=60)
    # not before the report that opens with its own heading, nor before a frame chunk of text
    assert [[p[:12] for p in part] for part in found] == [
        ["= Paket 1\n==", "x" * 12], ["=== Verdandi", "==== Underru", "", "*Delrapporte"], ["== 1.2 Nästa", "z" * 10]]
    # a piece longer than the limit is a part of its own, never cut
    assert parts([("= A", True), ("x" * 500, False), ("= B", True)], limit=100) == [["= A", "x" * 500], ["= B"]]


def test_a_part_repeats_the_headings_above_its_first_one_out_of_the_contents():
    before = ["= Paket 1. Verksamheter\n== 1.1 Genomgång\n=== Forum: rapport\n==== Nuläge",
              "== 1.2 Utmaningar\n=== Verdandi: rapport"]
    stack = open_headings(before)
    assert stack == ["Paket 1. Verksamheter", "1.2 Utmaningar", "Verdandi: rapport"]
    assert headed(["=== Myrorna: rapport\ntext"], stack) == (
        "#heading(level: 1, outlined: false)[Paket 1. Verksamheter (forts.)]\n"
        "#heading(level: 2, outlined: false)[1.2 Utmaningar (forts.)]\n")
    assert headed(["= Paket 2"], stack) == ""
    assert open_headings(["= Paket 2"], stack) == ["Paket 2"]


def test_a_part_carries_on_the_numbers_where_the_previous_ended():
    end = {"pages": 41, "footnote": 3, "table": 2, "image": 5, "raw": 0, "equation": 1, "headings": []}
    lines = continued(end).splitlines()
    assert lines[:2] == ["#counter(page).update(42)", "#counter(footnote).update(3)"]
    assert "#counter(figure.where(kind: image)).update(5)" in lines


# The shells as tasks/core/lua/render.lua writes them, cut to what matters here.
HEAD = '#set text(lang: "sv", region: "SE")\n#set page(height: 12cm, numbering: "{n}")\n'
SHELLS = {
    "typst": '#set document(title: "Utkast")\n' + HEAD.format(n="i") + "#outline()\nPAKET",
    "typst_front": '#set document(title: "Utkast")\n' + HEAD.format(n="i") + "*Utkast*\n\nINNEHALL\n\nInledning.",
    "typst_part": HEAD.format(n="1") + "PAKET",
}


def _pieces(paket: int) -> list[tuple[str, bool]]:
    pieces = []
    for p in range(1, paket + 1):
        pieces.append((f"= Paket {p}\n== {p}.1 Stycke\n=== Forum: rapport {p}", True))
        pieces.append((f"Text i paket {p} med en fotnot#footnote[Not {p}.].\n\n" + "Mer text. " * 150, False))
        pieces.append((f"=== Verdandi: rapport {p}", True))
        pieces.append((f"Verdandis text {p}.\n\n" + "Ännu mer. " * 150, False))
    return pieces


@pytest.mark.parametrize("limit", [None, 1_000])  # one compile; a part per report
def test_the_joined_pdf_reads_as_one_document(tmp_path, limit):
    from pypdf import PdfReader

    pdf = write_pdf(SHELLS, "PAKET", "INNEHALL", _pieces(3), "Utkast", tmp_path, limit=limit)
    data = pdf.read_bytes()
    assert pdf_ua_part(data) == "1"
    reader = PdfReader(io.BytesIO(data))
    assert (len(list(tmp_path.glob("del-*.pdf"))) > 1) == (limit is not None)
    labels = [reader.page_labels[i] for i in range(len(reader.pages))]
    body = labels.index("1")
    assert all(re.fullmatch(r"[ivx]+", label) for label in labels[:body])
    assert labels[body:] == [str(n) for n in range(1, len(labels) - body + 1)]  # one run of numbers
    texts = [" ".join(page.extract_text().split()) for page in reader.pages]
    for n, text in enumerate(texts[body:], start=1):
        assert text.endswith(str(n)), (n, text[-40:])  # the number printed at the foot
    # every footnote numbered on from the last: Not p is footnote p
    notes = re.findall(r"(\d) ?Not (\d)\.", " ".join(texts))
    assert notes and all(a == b for a, b in notes), notes
    # the bookmarks: every paket and report once, in order, each on the page its heading is on
    marks = []

    def walk(items, depth=0):
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                marks.append((depth, item.title, reader.get_destination_page_number(item)))

    walk(reader.outline)
    titles = [t for _, t, _ in marks]
    assert [(depth, t) for depth, t, _ in marks] == [  # nested as the headings are, across parts
        (depth, t) for p in (1, 2, 3) for depth, t in
        [(0, f"Paket {p}"), (1, f"{p}.1 Stycke"), (2, f"Forum: rapport {p}"), (2, f"Verdandi: rapport {p}")]]
    assert all(t in texts[page] for _, t, page in marks), marks
    assert not any("forts." in t for t in titles)  # a repeated heading is not a bookmark
    # the table of contents: its page numbers are the headings' pages, its links go there
    contents = " ".join(texts[:body])
    for _, title, page in marks:
        assert re.search(re.escape(title) + r" [. ]*" + labels[page] + r"\b", contents), (title, labels[page])
    if limit:
        links = [(annot.get_object()["/Contents"], reader.get_page_number(annot.get_object()["/Dest"][0]))
                 for page in reader.pages[:body] for annot in page.get("/Annots", [])]
        assert sorted(links) == sorted((t, p) for _, t, p in marks), links
    kinds = [kind for kind, _ in structure(data)]
    levels = [int(kind[2]) for kind in kinds if re.fullmatch(r"/H[1-6]", kind)]
    assert levels[0] == 1 and all(b <= a + 1 for a, b in zip(levels, levels[1:])), levels
    assert kinds.count("/Note") == 3
    root = reader.trailer["/Root"]
    assert reader.metadata.title == "Utkast" and root["/Lang"] == "sv-SE"
    # each page's marked content resolves to structure elements of the joined tree
    import pikepdf

    with pikepdf.open(pdf) as joined:
        tree = pikepdf.NumberTree(joined.Root.StructTreeRoot.ParentTree)
        keys = [int(page.StructParents) for page in joined.pages]
        assert len(set(keys)) == len(keys) and all(k in tree for k in keys)
        assert int(joined.Root.StructTreeRoot.ParentTreeNextKey) > max(keys)
        # structure elements point at the document's own pages, not at copies left behind
        pages = {page.objgen for page in joined.pages}
        on = {o.Pg.objgen for o in joined.objects if isinstance(o, pikepdf.Dictionary) and "/S" in o and "/Pg" in o}
        assert on and on <= pages
