"""Language review: planted errors in Swedish text are found at the right place, partner
names are not, and the partner's Word file comes back with comments on the right words."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from docx import Document
from docx.shared import Pt

from tasks.core.errors import CheckerUnavailable
from tasks.review.check import review_blocks, review_source
from tasks.review.checker import EmbeddedChecker, byte_to_char, utf16_to_char
from tasks.review.report import ReviewMeta, review_docx, review_html, review_json
from tasks.review.settings import Dictionary
from tasks.review.text import Block, blocks_from_markdown, blocks_from_normalised
from tests.builders import make_docx

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"

PLANTED = [
    "Erikshjälpen och Kooptjänst samarbetar med Coompanion och Verdandi i Växjö. "
    "Vi har har många deltagare i  arbetsträning , och de flesta får jobb.",
    "Verksamheten är arbetsintegrerande och ESF-projektet stöder Erikshjälpens second hand-butiker "
    "och Kooptjänsts rådgivning. Deltagarna sorterar kläder i butikenn.",
]
# (paragraph, offset in the paragraph, length, words, rule)
EXPECTED = [
    (1, 79, 7, "har har", "WORD_REPEAT_RULE"),
    (1, 104, 2, "  ", "WHITESPACE_RULE"),
    (1, 119, 2, " ,", "COMMA_PARENTHESIS_WHITESPACE"),
    (2, 151, 8, "butikenn", "HUNSPELL_RULE"),
]


def _found(findings):
    return [(f["paragraph"], f["block_offset"], f["length"], f["text"], f["rule_id"]) for f in findings]


def test_planted_errors_are_found_exactly_and_partner_names_are_not(checker, settings):
    findings = review_blocks([Block(t) for t in PLANTED], checker, settings)

    assert _found(findings) == EXPECTED
    text = "\n\n".join(PLANTED)
    for f in findings:  # offsets in the whole checked text point at the same words
        assert text[f["offset"]:f["offset"] + f["length"]] == f["text"]
    assert [f["offset"] for f in findings] == [79, 104, 119, len(PLANTED[0]) + 2 + 151]
    assert findings[0]["suggestions"] == ["har"] and findings[0]["severity"] == "fel"
    assert findings[1]["suggestions"] == [" "] and findings[1]["category_name"] == "Typografi"
    assert findings[2]["message"] == "Lägg till ett blanksteg efter kommatecknet, men inte före."
    assert "butiken" in findings[3]["suggestions"] and findings[3]["issue_type"] == "misspelling"
    assert findings[3]["context"]["text"] == "Deltagarna sorterar kläder i butikenn."
    flagged = {f["text"] for f in findings}
    for name in ("Erikshjälpen", "Kooptjänst", "Coompanion", "Verdandi", "Erikshjälpens", "Kooptjänsts",
                 "ESF-projektet", "arbetsintegrerande", "second hand-butiker"):
        assert name not in flagged


def test_partner_names_are_filtered_even_when_the_rules_do_not_know_them(settings):
    """What a LanguageTool server does: its speller flags the names; the dictionary drops them."""
    from dataclasses import replace

    with EmbeddedChecker(replace(settings.tuning, spelling_words=())) as plain:
        raw = [t[f.offset:f.offset + f.length] for t, fs in zip(PLANTED, plain.check(PLANTED)) for f in fs]
        assert {"Kooptjänst", "Coompanion", "Kooptjänsts"} <= set(raw)
        assert _found(review_blocks([Block(t) for t in PLANTED], plain, settings)) == EXPECTED


def test_dictionary_covers_inflections_capitals_and_compounds(settings):
    d = Dictionary(settings.words, settings.endings)
    for word in ("Erikshjälpen", "Erikshjälpens", "Kooptjänsts", "Coompanions", "Verdandis", "ESF:s",
                 "KOOPTJÄNST", "Arbetsintegrerande", "Myrornas", "Räddningsmissionens"):
        assert d.accepts(word), word
    for word in ("kooptjänst", "esf", "Kooptjänstxyz", "Erikshjälp"):
        assert not d.accepts(word), word
    text = "Vi stöder ESF-projektet och ESF-projekett i second hand-butiken."
    assert d.covers(text, 10, 13)  # the dictionary part of a compound
    assert not d.covers(text, 32, 41)  # the other part
    assert d.compound_rest(text, 28, 41) == ["projekett"]  # the whole compound: check the rest alone
    assert d.covers(text, text.index("second"), text.index("second") + 6)
    assert d.covers(text, text.index("hand-butiken"), text.index("hand-butiken") + 12)


def test_compounds_with_a_project_word_are_reported_only_when_misspelt(settings):
    """Without the project words in the speller (as on a server) the whole compound is flagged."""
    from dataclasses import replace

    text = "Vi har Kooptjänst-projektet och Kooptjänst-projekett och Coompanion-mötet."
    with EmbeddedChecker(replace(settings.tuning, spelling_words=())) as plain:
        found = review_blocks([Block(text)], plain, settings)
    assert [f["text"] for f in found] == ["Kooptjänst-projekett"]


def test_offsets_are_characters_not_bytes(checker, settings):
    text = "Åsa 😀 på Öland har har en båt."
    (f,) = review_blocks([Block(text)], checker, settings)
    assert (f["offset"], f["length"], f["text"]) == (text.index("har har"), 7, "har har")
    assert byte_to_char("åä😀x", [0, 2, 4, 8, 9]) == [0, 1, 2, 3, 4]
    assert utf16_to_char("a😀b", [0, 1, 3, 4]) == [0, 1, 2, 3]


def test_disabled_rules_and_list_items_are_respected(config, checker, settings, tmp_path):
    from dataclasses import replace

    quiet = replace(settings, disabled_rules=("WHITESPACE_RULE",))
    findings = review_blocks([Block(PLANTED[0])], checker, quiet)
    assert "WHITESPACE_RULE" not in {f["rule_id"] for f in findings} and len(findings) == 2
    items = [Block("lönerna är låga,", kind="item"), Block("lönerna är låga.", kind="para")]
    found = review_blocks(items, checker, settings)
    assert [(f["paragraph"], f["rule_id"]) for f in found] == [(2, "UPPERCASE_SENTENCE_START")]


def test_markdown_syntax_is_removed_but_spacing_is_kept():
    source = ("---\ntitle: Prov\n---\n\n# Vår  rapport\n\nDet här är **fet** text med [en länk](https://x.se/a) "
              "och `kod` samt\nen ny rad[^1] , här.\n\n- punkt ett\n- punkt två\n  fortsätter\n\n"
              "| Kolumn | Annan |\n|---|---|\n| cell  ett | två |\n\n[^1]: En fotnot.\n\n    kodblock\n")
    blocks = blocks_from_markdown(source)
    assert [(b.kind, b.text) for b in blocks] == [
        ("heading", "Vår  rapport"),
        ("para", "Det här är fet text med en länk och kod samt en ny rad , här."),
        ("item", "punkt ett"), ("item", "punkt två fortsätter"),
        ("cell", "Kolumn"), ("cell", "Annan"), ("cell", "cell  ett"), ("cell", "två"),
        ("para", "En fotnot."),
    ]
    para = blocks[1]
    assert para.line == 7 and para.line_of(para.text.index("en ny rad")) == 8
    assert para.checked_text() == "Det här är fet text med en länk och 000 samt en ny rad , här."
    url = blocks_from_markdown("Läs mer på https://www.erikshjalpen.se/om-oss/verksamhet.\n")[0]
    assert url.checked_text() == "Läs mer på " + "0" * len("https://www.erikshjalpen.se/om-oss/verksamhet") + "."


def test_plain_text_keeps_its_characters():
    text = "Rad ett med *stjärnor*  här\noch rad två.\n\n- en punkt\n- en till\n"
    blocks = blocks_from_markdown(text, markdown=False)
    assert [(b.kind, b.text) for b in blocks] == [
        ("para", "Rad ett med *stjärnor*  här och rad två."), ("item", "en punkt"), ("item", "en till")]


def test_odt_paragraphs_keep_their_doubled_spaces(checker, settings):
    import subprocess

    from tasks.core.pandoc import pandoc_path
    from tests.builders import rezip

    md = "# Rubrik\n\nDet finns dubbla mellanslag , här och Kooptjänst finns finns.\n\n- en punkt\n"
    odt = subprocess.run([pandoc_path(), "-f", "markdown", "-t", "odt", "-o", "-"], input=md.encode(),
                         capture_output=True, check=True).stdout
    content = zipfile.ZipFile(io.BytesIO(odt)).read("content.xml")
    content = content.replace(b"finns dubbla", b"finns <text:s/>dubbla")  # how ODF stores a 2nd space
    reviewed = review_source("odt", rezip(odt, replace={"content.xml": content}), None, checker, settings)
    assert [(b.kind, b.text) for b in reviewed.blocks] == [
        ("heading", "Rubrik"), ("para", "Det finns  dubbla mellanslag , här och Kooptjänst finns finns."),
        ("item", "en punkt")]
    assert [(f["block_offset"], f["text"]) for f in reviewed.findings] == [
        (9, "  "), (28, " ,"), (50, "finns finns")]


def test_pandoc_tree_blocks_for_other_formats():
    md = "#### Rubrik\n\nEtt stycke med *kursiv* text[^1] och <https://x.se>.\n\n[^1]: Not här.\n\n- punkt\n"
    blocks = blocks_from_normalised(md)
    assert [(b.kind, b.level, b.text) for b in blocks] == [
        ("heading", 4, "Rubrik"), ("para", 0, "Ett stycke med kursiv text och https://x.se."),
        ("para", 0, "Not här."), ("item", 0, "punkt")]
    assert blocks[1].checked_text() == "Ett stycke med kursiv text och " + "0" * len("https://x.se") + "."


def _anchored(docx_bytes: bytes) -> dict[int, str]:
    """Comment id -> the text between its range start and end in document.xml."""
    xml = Document(io.BytesIO(docx_bytes)).element  # the main document part, wherever it is stored
    open_ranges: dict[str, list[str]] = {}
    result = {}
    for el in xml.iter():
        if el.tag == f"{W}commentRangeStart":
            open_ranges[el.get(f"{W}id")] = []
        elif el.tag == f"{W}commentRangeEnd":
            result[int(el.get(f"{W}id"))] = "".join(open_ranges.pop(el.get(f"{W}id")))
        elif el.tag == f"{W}t":
            for parts in open_ranges.values():
                parts.append(el.text or "")
    return result


META = ReviewMeta("Kvalitet i butiken", "myrorna", "Myrorna", "1.3", "Kvalitet", "myrorna/1.3 K.docx", "x", "docx")


def test_review_docx_is_the_partners_document_with_comments_on_the_right_words(checker, settings):
    doc = Document()
    doc.add_heading("Vår rapport", level=1)
    first = doc.add_paragraph()
    first.add_run("Erikshjälpen och Kooptjänst samarbetar med Coompanion och Verdandi i Växjö. ")
    bold = first.add_run("Vi har har många deltagare")
    bold.bold = True
    bold.font.size = Pt(14)
    first.add_run(" i  arbetsträning , och de flesta får jobb.")
    table = doc.add_table(rows=1, cols=1)
    table.cell(0, 0).text = "Deltagarna sorterar kläder i butikenn."
    buf = io.BytesIO()
    doc.save(buf)

    reviewed = review_source("docx", buf.getvalue(), None, checker, settings)
    assert [(f["text"], f["rule_id"]) for f in reviewed.findings] == [
        ("har har", "WORD_REPEAT_RULE"), ("  ", "WHITESPACE_RULE"), (" ,", "COMMA_PARENTHESIS_WHITESPACE"),
        ("butikenn", "HUNSPELL_RULE")]
    out = review_docx(reviewed, META)

    again = Document(io.BytesIO(out))  # opens with python-docx
    comments = list(again.comments)
    assert len(comments) == 4
    assert all(c.author == "Språkgranskning (utkast)" for c in comments)
    assert comments[0].text == "Möjligt korrekturfel: du upprepade ett ord\nFörslag: ”har”\nUpprepningar · fel"
    assert _anchored(out) == {c.comment_id: f["text"] for c, f in zip(comments, reviewed.findings)}
    # The partner's text and formatting are unchanged, only split into runs.
    paragraphs = [p.text for p in again.paragraphs]
    assert paragraphs[1] == first.text
    runs = again.paragraphs[1].runs
    assert "".join(r.text for r in runs if r.bold) == "Vi har har många deltagare"
    assert all(r.font.size == Pt(14) for r in runs if r.bold)
    assert again.tables[0].cell(0, 0).text == "Deltagarna sorterar kläder i butikenn."


def test_review_docx_for_other_formats_holds_the_text_with_comments(checker, settings):
    md = "# Rubrik\n\n" + PLANTED[0] + "\n\n- en punkt om " + "butikenn.\n"
    reviewed = review_source("md", md.encode("utf-8"), None, checker, settings)
    out = review_docx(reviewed, META)
    doc = Document(io.BytesIO(out))
    texts = [p.text for p in doc.paragraphs]
    assert PLANTED[0] in texts and "en punkt om butikenn." in texts
    assert sorted(_anchored(out).values()) == sorted(f["text"] for f in reviewed.findings)
    assert len(reviewed.findings) == 4


def test_html_and_json_reports_are_in_swedish_and_complete(config, checker, settings):
    reviewed = review_source("docx", make_docx(PLANTED), None, checker, settings)
    html = review_html(reviewed, META, checker, 0, config.templates, "1.3.docx")
    assert "Granskningen hittade <strong>4 påpekanden</strong> (2 fel, 2 varningar)" in html
    assert "<td>Typografi</td><td class=\"n\">2</td>" in html
    assert "Deltagarna sorterar kläder i <mark>butikenn</mark>." in html
    assert '<span class="suggestion">butiken</span>' in html
    shown = re.sub(r"<[^>]+>", " ", html.split("<body", 1)[1])  # what the partner reads: no rule ids
    assert "regel " not in shown and not re.search(r"\b[A-Z]{2,}(?:_[A-Z0-9]+)+\b", shown)
    body = review_json(reviewed, META, checker, 0)
    assert json.loads(json.dumps(body))["counts"]["by_category"] == {"Typografi": 2, "Möjligt skrivfel": 1,
                                                                     "Upprepningar": 1}
    for f in body["findings"]:
        assert body["text"][f["offset"]:f["offset"] + f["length"]] == f["text"]


def test_a_missing_rule_package_makes_the_checker_unavailable(settings, tmp_path):
    broken = EmbeddedChecker(settings.tuning, data_dir=str(tmp_path))
    with pytest.raises(CheckerUnavailable, match="could not load its rules"):
        broken.check(["Hej."])


def test_worker_processes_find_the_same_as_the_engine_itself(settings):
    from dataclasses import replace

    texts = PLANTED * 4
    with EmbeddedChecker(replace(settings.tuning, workers=2, min_words_for_workers=1)) as pooled:
        assert pooled.check(texts) == EmbeddedChecker(settings.tuning).check(texts)


def test_corpus_word_files_get_comments_on_the_flagged_words(corpus, checker, settings):
    """Real documents: Swedish manuals, and Word files that already hold comments, tracked
    changes and hyperlinks. Every finding becomes a comment on exactly its words."""
    files = sorted((corpus / "swedish").glob("co-city_*.docx")) + [
        corpus / "pandoc-docx" / name for name in ("comments.docx", "track_changes_scrubbed_metadata.docx",
                                                   "links.docx", "table_one_row.docx")]
    for path in files:
        if not path.exists():
            continue
        reviewed = review_source("docx", path.read_bytes(), None, checker, settings)
        out = review_docx(reviewed, META)
        ours = [c for c in Document(io.BytesIO(out)).comments if c.author == "Språkgranskning (utkast)"]
        anchored = _anchored(out)
        assert len(ours) == len(reviewed.findings), path.name
        for comment, f in zip(ours, reviewed.findings):
            assert anchored[comment.comment_id] == f["text"], (path.name, f)
    assert any("co-city" in p.name for p in files if p.exists())
