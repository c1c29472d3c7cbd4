"""Findings as Word comments (plain functions, no checker, no Prefect): each comment is
anchored on exactly the words of its finding, whatever runs and formatting they are in,
also in a table cell; text boxes and the table of contents are not read as paragraphs."""

from __future__ import annotations

import io

from docx import Document
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn

from tasks.review.comments import (
    AUTHOR,
    anchor_comments,
    comment_document,
    docx_paragraphs,
    new_text_document,
    save,
)
from tasks.review.text import Block


def message(finding: dict) -> str:
    return finding["message"]


def finding(block: int, text: str, words: str, msg: str) -> dict:
    """A finding on ``words`` (their first occurrence) in the paragraph ``text``."""
    return {"block": block, "block_offset": text.index(words), "length": len(words), "message": msg}


def reopen(doc) -> Document:
    return Document(io.BytesIO(save(doc)))


def anchored(doc) -> list[tuple[str, str, str]]:
    """(commented words, comment text, author) of every comment, in document order, read
    from the ``commentRangeStart``/``End`` marks of the body."""
    words, order, open_ = {}, [], set()
    for el in doc.element.body.iter():
        if el.tag == qn("w:commentRangeStart"):
            cid = el.get(qn("w:id"))
            words[cid], open_ = "", open_ | {cid}
            order.append(cid)
        elif el.tag == qn("w:commentRangeEnd"):
            open_.discard(el.get(qn("w:id")))
        elif el.tag == qn("w:t"):
            for cid in open_:
                words[cid] += el.text or ""
    comments = {str(c.comment_id): c for c in doc.comments}
    return [(words[cid], comments[cid].text, comments[cid].author) for cid in order]


def test_a_comment_covers_exactly_its_words_across_runs_and_keeps_their_formatting():
    doc = Document()
    para = doc.add_paragraph("Vi har ")
    para.add_run("myckte").bold = True
    para.add_run(" bra ").italic = True
    para.add_run("resultat i år.")
    text = "Vi har myckte bra resultat i år."
    (p,) = docx_paragraphs(doc)
    assert p.block.text == text and p.block.kind == "para"

    added = anchor_comments(doc, p.element, [finding(0, text, "har myckte bra", "Stavfel: ”mycket”"),
                                             finding(0, text, "i år", "Skriv ”i år” utan mellanslag?")], message)

    assert added == 2
    again = reopen(doc)
    assert anchored(again) == [("har myckte bra", "Stavfel: ”mycket”", AUTHOR),
                               ("i år", "Skriv ”i år” utan mellanslag?", AUTHOR)]
    (para,) = again.paragraphs
    assert para.text == text  # the partner's text is unchanged, only split into runs
    assert "".join(r.text for r in para.runs if r.bold) == "myckte"
    assert "".join(r.text for r in para.runs if r.italic) == " bra "
    assert not any(r.bold or r.italic for r in para.runs if "Vi" in r.text or "resultat" in r.text)


def test_a_finding_in_a_table_cell_is_commented_in_that_cell():
    doc = Document()
    doc.add_heading("Deltagare", level=1)
    doc.add_paragraph("Tabellen visar antalet deltagare.")
    table = doc.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "År 2023"
    table.cell(0, 1).text = "Deltagarna sorterar kläder i butikenn."
    paragraphs = docx_paragraphs(doc)
    assert [(p.block.text, p.block.kind, p.block.level) for p in paragraphs] == [
        ("Deltagare", "heading", 1), ("Tabellen visar antalet deltagare.", "para", 0),
        ("År 2023", "cell", 0), ("Deltagarna sorterar kläder i butikenn.", "cell", 0)]

    cell_text = paragraphs[3].block.text
    assert comment_document(doc, paragraphs, [finding(3, cell_text, "butikenn", "Stavfel")], message) == 1

    again = reopen(doc)
    assert anchored(again) == [("butikenn", "Stavfel", AUTHOR)]
    (start,) = again.element.body.iter(qn("w:commentRangeStart"))
    (cell,) = [a for a in start.iterancestors(qn("w:tc"))]
    assert "".join(t.text for t in cell.iter(qn("w:t"))) == cell_text
    assert again.tables[0].cell(0, 1).text == cell_text


TEXT_BOX = f"""<w:r {nsdecls('w')} xmlns:v="urn:schemas-microsoft-com:vml"><w:pict><v:shape><v:textbox>
<w:txbxContent><w:p><w:r><w:t>Text i en textruta.</w:t></w:r></w:p></w:txbxContent>
</v:textbox></v:shape></w:pict></w:r>"""

TOC = f"""<w:sdt {nsdecls('w')}><w:sdtPr><w:docPartObj><w:docPartGallery w:val="Table of Contents"/>
<w:docPartUnique/></w:docPartObj></w:sdtPr><w:sdtContent>
<w:p><w:r><w:t>Innehåll</w:t></w:r></w:p><w:p><w:r><w:t>1 Bakgrund ........ 3</w:t></w:r></w:p>
</w:sdtContent></w:sdt>"""

REVISIONS = f"""<w:p {nsdecls('w')}><w:r><w:t xml:space="preserve">Vi har </w:t></w:r>
<w:del w:id="90" w:author="A" w:date="2026-03-01T00:00:00Z"><w:r><w:delText>inga </w:delText></w:r></w:del>
<w:ins w:id="91" w:author="A" w:date="2026-03-01T00:00:00Z"><w:r><w:t xml:space="preserve">många </w:t></w:r></w:ins>
<w:hyperlink><w:r><w:t>deltagare</w:t></w:r></w:hyperlink><w:r><w:t>.</w:t></w:r></w:p>"""


def test_text_boxes_the_table_of_contents_and_deleted_text_are_not_read():
    doc = Document()
    doc.element.body.insert(0, parse_xml(TOC))
    para = doc.add_paragraph("Bakgrunden står här. ")
    para._p.append(parse_xml(TEXT_BOX))
    doc.element.body.append(parse_xml(REVISIONS))
    doc.element.body.append(doc.element.body.sectPr)  # keep the section properties last
    doc.add_paragraph("Ett punktstycke.", style="List Bullet")

    blocks = [(p.block.text, p.block.kind) for p in docx_paragraphs(doc)]

    assert blocks == [("Bakgrunden står här. ", "para"), ("Vi har många deltagare.", "para"),
                      ("Ett punktstycke.", "item")]
    # A finding on the inserted words, ending in a hyperlink, is anchored on them.
    paragraphs = docx_paragraphs(doc)
    text = paragraphs[1].block.text
    assert comment_document(doc, paragraphs, [finding(1, text, "många deltagare", "Kolla siffran")], message) == 1
    assert anchored(reopen(doc)) == [("många deltagare", "Kolla siffran", AUTHOR)]


def test_a_report_that_was_not_a_word_file_gets_a_document_of_its_own_with_comments():
    blocks = [Block("Bakgrund", "heading", 4), Block("Vi har myckte bra resultat.", "para"),
              Block("handledning", "item"), Block("Metod", "heading", 5), Block("Vi följer upp varje vecka.")]

    doc, paragraphs = new_text_document(blocks, "Kvalitet i butiken", "Granskningen av din Markdown-fil.")
    text = blocks[1].text
    assert comment_document(doc, paragraphs, [finding(1, text, "myckte", "Stavfel: ”mycket”")], message) == 1

    again = reopen(doc)
    assert again.core_properties.title == "Kvalitet i butiken"
    shown = [(p.text, p.style.name) for p in again.paragraphs]
    assert shown == [("Kvalitet i butiken", "Heading 1"), ("Granskningen av din Markdown-fil.", "Normal"),
                     ("Bakgrund", "Heading 2"), ("Vi har myckte bra resultat.", "Normal"),
                     ("handledning", "List Bullet"), ("Metod", "Heading 3"), ("Vi följer upp varje vecka.", "Normal")]
    assert again.paragraphs[1].runs[0].italic
    assert anchored(again) == [("myckte", "Stavfel: ”mycket”", AUTHOR)]
