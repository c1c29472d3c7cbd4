"""A draft every reader can use (docs/accessibility.md): the PDF compiled by Typst under
PDF/UA-1, image descriptions carried from the partner's file to every format, a finding and a
line on the partner's page for each image without one, headings that never skip a level,
header rows marked in every format, and axe-core finding nothing on the HTML draft.

The hard cases are built in code (tests/builders.py): an image with and one without a
description, a table with and one without a header row, headings 1 -> 3, a footnote, a list;
as a Word file, an OpenDocument text and Markdown.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile

import pytest
from lxml import etree

from tasks.intake.normalise import Converted, Report
from tasks.review.access import RULE_ALT, RULE_HEADING, accessibility_findings
from tasks.review.text import Block
from tests.builders import (
    ALT_TEXT,
    accessibility_markdown,
    make_accessibility_docx,
    make_accessibility_odt,
    put,
)
from tests.conftest import ROOT, axe_violations
from tests.test_normalise import _convert

PLACEHOLDER_ALT = "Bild utan beskrivning"
PLACEHOLDER_SHOWN = "Bildbeskrivning saknas"
ODT_ALT = "Karta över butikerna i regionen"
XMP_PDFUA = "{http://www.aiim.org/pdfua/ns/id/}part"


# --- intake: descriptions, images without one, headings --------------------------------------


@pytest.mark.parametrize("key, data, skipped", [
    ("myrorna/1.4 Tillgänglighet.docx", make_accessibility_docx(), True),
    ("coompanion/4.1 Bilder.md", accessibility_markdown(), True),
    ("forum/3.3 Bilder.odt", make_accessibility_odt(), False),
])
def test_descriptions_are_kept_and_what_is_missing_is_found(tmp_path, config, key, data, skipped):
    result = _convert(tmp_path, config, key, data)
    assert isinstance(result, Converted) and len(result.images) == 2
    described = ODT_ALT if key.endswith(".odt") else ALT_TEXT
    assert f"![{described}](../media/" in result.markdown  # the partner's description, kept
    near = "Den andra bilden saknar beskrivning." if key.endswith(".odt") else "Bilden nedan saknar beskrivning."
    assert result.missing_alt == [{"n": 2, "of": 2, "where": "after", "near": near}]
    if skipped:
        assert result.heading_skips == [{"text": "Deltagare och handledare", "level": 3, "previous": 1}]
        assert "#### Deltagare och handledare" in result.markdown
    else:
        assert result.heading_skips == []


def test_headings_in_the_draft_never_skip_a_level_and_are_never_empty(tmp_path, config):
    text = ("# Titel\n\n## Del ett\n\nText ett.\n\n#### Djupt ner\n\nText två.\n\n##\n\n"
            "###### Ännu djupare\n\nText tre.\n\n## Del två\n\nText fyra.\n")
    result = _convert(tmp_path, config, "coompanion/4.3 Rubriker.md", text)
    headings = re.findall(r"^(#+) (.+)$", result.markdown, re.M)
    assert headings == [("####", "Del ett"), ("#####", "Djupt ner"), ("######", "Ännu djupare"),
                        ("####", "Del två")]
    assert result.heading_skips == [{"text": "Djupt ner", "level": 4, "previous": 2},
                                    {"text": "Ännu djupare", "level": 6, "previous": 4}]


def test_a_link_without_text_gets_its_address_as_text(tmp_path, config):
    text = "Se [](https://example.org) och [oss](https://example.org/oss).\n"
    result = _convert(tmp_path, config, "coompanion/4.3 Länkar.md", text)
    assert "Se <https://example.org> och [oss](https://example.org/oss)." in result.markdown


def test_an_image_a_markdown_report_only_points_to_is_still_dropped(tmp_path, config):
    text = "Text.\n\n![Bild](bild.png)\n\n![Bild](data:image/svg+xml;base64,PHN2Zy8+)\n"
    result = _convert(tmp_path, config, "coompanion/4.3 Länk.md", text)
    assert result.images == {} and result.missing_alt == []
    assert "images_dropped:2" in result.warnings


# --- the review: one finding per image and per skipped level ---------------------------------


def _report(kind: str, missing_alt: list[dict], heading_skips: list[dict] = ()) -> Report:
    return Report(partner="myrorna", piece="1.4", source="myrorna/1.4 R." + kind, sha256="0" * 64, kind=kind,
                  title="R", words=10, version=1, received=0.0, converter="c", md_key="m", ast_key="a",
                  missing_alt=missing_alt, heading_skips=list(heading_skips))


def test_each_image_without_a_description_is_one_finding_anchored_next_to_it():
    blocks = [Block("Deltagare", "heading", 1), Block("Första stycket om butiken."),
              Block("Bilden nedan visar   lagret."), Block("Sista stycket.")]
    report = _report("docx", [{"n": 1, "of": 3, "where": "after", "near": "Bilden nedan visar lagret."},
                              {"n": 3, "of": 3, "where": "before", "near": "Något som inte står här."}],
                     [{"text": "Deltagare", "level": 3, "previous": 1}])
    found = accessibility_findings(blocks, report)
    assert [(f["rule_id"], f["block"], f["text"]) for f in found] == [
        (RULE_ALT, 2, "lagret."),  # the last word of the paragraph the image follows
        (RULE_ALT, 0, "Deltagare"),  # a place the review's text does not show: the first words
        (RULE_HEADING, 0, "Deltagare")]
    first, second, heading = (f["message"] for f in found)
    assert first.startswith("Bild 1 av 3 (efter ”Bilden nedan visar lagret.”) saknar beskrivning (alternativtext).")
    assert "högerklicka på bilden, välj ”Redigera alternativtext”" in first
    assert second.startswith("Bild 3 av 3 (före ”Något som inte står här.”)")
    assert heading.startswith("Rubriken ”Deltagare” har nivå 3 men rubriken före den har nivå 1: nivå 2 hoppas över.")
    assert "formatet Rubrik 2" in heading
    starts = [sum(len(b.text) + 2 for b in blocks[:i]) for i in range(len(blocks))]
    assert all(f["category_name"] == "Tillgänglighet" and f["offset"] == starts[f["block"]] + f["block_offset"]
               for f in found)


def test_the_advice_fits_the_program_the_report_came_from():
    one = [{"n": 1, "of": 1, "where": "in", "near": "Text"}]
    blocks = [Block("Text")]
    by_kind = {kind: accessibility_findings(blocks, _report(kind, one))[0]["message"] for kind in ("odt", "md", "rtf")}
    assert by_kind["odt"].startswith("Bilden (i stycket ”Text”) saknar beskrivning") and "LibreOffice" in by_kind["odt"]
    assert "![så här](…)" in by_kind["md"]
    assert "spara rapporten som Word-dokument (.docx)" in by_kind["rtf"]


# --- the PDF and the HTML ----------------------------------------------------------------------


def test_typst_refuses_an_image_without_a_description_under_pdf_ua(tmp_path):
    from tasks.draft.pdf import compile_pdf
    from tests.builders import PNG

    (tmp_path / "bild.png").write_bytes(PNG)
    head = '#set document(title: "Utkast")\n#set text(lang: "sv", region: "SE")\n= Rubrik\n'
    source = tmp_path / "utkast.typ"
    source.write_text(head + '#image("bild.png")\n', encoding="utf-8")
    with pytest.raises(Exception, match="PDF/UA-1 error: missing alt text"):
        compile_pdf(source, tmp_path)
    source.write_text(head + '#image("bild.png", alt: "En röd ruta")\n', encoding="utf-8")
    assert pdf_ua_part(compile_pdf(source, tmp_path).read_bytes()) == "1"


def test_a_character_no_font_has_becomes_a_question_mark_and_the_pdf_stays_pdf_ua(tmp_path):
    from pypdf import PdfReader

    from tasks.draft.pdf import compile_pdf
    from tests.builders import PNG

    (tmp_path / "bild.png").write_bytes(PNG)
    source = tmp_path / "utkast.typ"
    source.write_text('#set document(title: "Utkast")\n#set text(lang: "sv", region: "SE")\n= Rubrik\n'
                      'Vi #emph[startar]🚀 nu 👩‍👩‍👧 och ✓ är kvar.\n\n#image("bild.png", alt: "Raket 🚀")\n',
                      encoding="utf-8")
    pdf = compile_pdf(source, tmp_path).read_bytes()
    assert pdf_ua_part(pdf) == "1"
    text = " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())
    assert "Vi startar? nu" in text and "och ✓ är kvar." in text and "🚀" not in text


def test_every_table_of_the_html_scrolls_in_a_region_the_keyboard_reaches():
    from tasks.draft.render import scrollable_tables

    html = "<p>a</p><table>\n<tr><td><table class='inre'><tr><td>x</td></tr></table></td></tr></table>"
    assert scrollable_tables(html) == (
        '<p>a</p><div class="tabell" role="region" tabindex="0" aria-label="Tabell 1"><table>\n<tr><td>'
        '<div class="tabell" role="region" tabindex="0" aria-label="Tabell 2"><table class=\'inre\'><tr><td>x'
        "</td></tr></table></div></td></tr></table></div>")


def pdf_ua_part(pdf: bytes) -> str | None:
    """The PDF/UA part its XMP metadata declares."""
    from pypdf import PdfReader

    root = PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    xmp = etree.fromstring(root["/Metadata"].get_object().get_data(), etree.XMLParser(resolve_entities=False))
    return next((e.text for e in xmp.iter(XMP_PDFUA)), None)


def structure(pdf: bytes) -> list[tuple[str, object]]:
    """The PDF's structure tree in reading order as (standard type, its /Alt) pairs."""
    from pypdf import PdfReader

    tree = PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/StructTreeRoot"].get_object()
    roles = {str(k): str(v) for k, v in tree.get("/RoleMap", {}).items()}
    found = []

    def walk(node) -> None:
        node = node.get_object()
        if not isinstance(node, dict):
            return
        if "/S" in node:
            found.append((roles.get(str(node["/S"]), str(node["/S"])), node.get("/Alt")))
        kids = node.get("/K", [])
        for kid in kids if isinstance(kids, list) else [kids]:
            if hasattr(kid, "get_object") or isinstance(kid, dict):
                walk(kid)

    walk(tree)
    return found


# --- the whole build: sample inbox plus the hard cases -----------------------------------------

CORPUS = {"myrorna/1.4 Tillgänglighet.docx": make_accessibility_docx,
          "forum/3.3 Bilder.odt": make_accessibility_odt,
          "coompanion/4.1 Bilder.md": accessibility_markdown}


def _build(tmp_path_factory, name: str):
    from flows.build import build_draft

    tmp = tmp_path_factory.mktemp(name)
    inbox, out = tmp / "inbox", tmp / "outputs"
    shutil.copytree(ROOT / "inbox", inbox)
    for key, make in CORPUS.items():
        put(inbox, key, make())
    result = build_draft(inbox=str(inbox), out=str(out), review=True)
    assert result["published"]
    return inbox, out, out / "drafts" / result["version"]


@pytest.fixture(scope="module")
def built(prefect_harness, tmp_path_factory):
    """A build (language review on) over the sample inbox plus the hard cases."""
    return _build(tmp_path_factory, "a11y")


@pytest.fixture(scope="module")
def built_in_parts(prefect_harness, tmp_path_factory):
    """The same build with its PDF laid out in parts, as a draft at national scale is
    (tasks/draft/pdf.py): a part every few reports."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tasks.draft.pdf.PART_CHARS", 4_000)
        return _build(tmp_path_factory, "a11y-parts")


@pytest.mark.parametrize("draft_of", ["built", "built_in_parts"])
def test_the_published_pdf_is_pdf_ua_with_descriptions_headings_tables_and_bookmarks(draft_of, request):
    from pypdf import PdfReader

    _, _, draft = request.getfixturevalue(draft_of)
    manifest = json.loads((draft / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["problems"] == {} and "pdf" in manifest["formats"]
    pdf = (draft / "utkast.pdf").read_bytes()
    assert pdf_ua_part(pdf) == "1"  # only Typst's ua-1 export declares it, after checking
    reader = PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "sv-SE" and bool(root["/MarkInfo"]["/Marked"])
    assert reader.metadata.title == "Redovisningsunderlag för en framtida genomförandeansökan"
    assert bool(root["/ViewerPreferences"]["/DisplayDocTitle"])
    tree = structure(pdf)
    kinds = [kind for kind, _ in tree]
    alts = [str(alt) for kind, alt in tree if kind == "/Figure"]
    assert sorted(alts) == sorted([ALT_TEXT, ALT_TEXT, ODT_ALT] + [PLACEHOLDER_ALT] * 3)
    levels = [int(kind[2]) for kind in kinds if re.fullmatch(r"/H[1-6]", kind)]
    assert levels[0] == 1 and all(b <= a + 1 for a, b in zip(levels, levels[1:])), levels
    assert {"/Table", "/TH", "/TD", "/L", "/LI", "/Note"} <= set(kinds)
    bookmarks = [item.title for item in reader.outline if not isinstance(item, list)]
    assert [t for t in bookmarks if t.startswith("Paket")] == [
        "Paket 1. Verksamheter och arbetsintegration", "Paket 2. Stöd, matchning och handledning",
        "Paket 3. Från arbetspraktik till arbetsmarknaden", "Paket 4. Villkor för att driva verksamheterna",
        "Paket 5. Gemensamma kriterier (kvalitetssäkring och certifiering)"]
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert text.count(PLACEHOLDER_SHOWN) == 3
    # laid out in parts, a part that begins inside a paket repeats its headings at the top
    assert ("(forts.)" in text) == (draft_of == "built_in_parts")


def test_the_html_and_word_drafts_carry_descriptions_and_header_rows(built):
    from lxml import html as lxml_html

    _, _, draft = built
    page = lxml_html.fromstring((draft / "utkast.html").read_text(encoding="utf-8"))
    alts = [img.get("alt") for img in page.iter("img")]
    assert sorted(alts) == sorted([ALT_TEXT, ALT_TEXT, ODT_ALT] + [PLACEHOLDER_ALT] * 3)
    assert " ".join(page.text_content().split()).count(PLACEHOLDER_SHOWN) == 3
    tables = {" ".join(t.text_content().split())[:20]: t for t in page.iter("table")}
    assert [th.text_content() for th in tables["År Deltagare Vidare "].iter("th")] == [
        "År", "Deltagare", "Vidare till arbete"]
    assert not list(tables["Norr 12 3 Söder 20 5"].iter("th"))  # no header row: none made up
    assert page.xpath("//section[@role='doc-endnotes']") and page.xpath("//ul/li[normalize-space()='validering.']")

    with zipfile.ZipFile(draft / "utkast.docx") as docx:
        body = docx.read("word/document.xml").decode("utf-8")
    descriptions = re.findall(r'<wp:docPr descr="([^"]*)"', body)
    assert sorted(descriptions) == sorted([ALT_TEXT, ALT_TEXT, ODT_ALT] + [PLACEHOLDER_ALT] * 3)
    tables = re.findall(r"<w:tbl>.*?</w:tbl>", body, re.S)
    header = next(t for t in tables if ">Vidare till arbete<" in t)
    plain = next(t for t in tables if ">Norr<" in t)
    assert "<w:tblHeader" in header and "<w:tblHeader" not in plain


def test_each_image_without_a_description_is_one_finding_and_one_line_on_the_partners_page(built, config):
    from tasks.portal.pages import partner_view, render_page
    from tasks.storage.local import LocalStorage
    from tests.test_browser import Page

    inbox, out, draft = built
    for key in CORPUS:
        partner, piece = key.split("/")[0], key.split("/")[1].split()[0]
        review = json.loads((out / "review" / partner / f"{piece}.json").read_text(encoding="utf-8"))
        images = [f for f in review["findings"] if f["rule_id"] == RULE_ALT]
        headings = [f for f in review["findings"] if f["rule_id"] == RULE_HEADING]
        assert len(images) == 1 and images[0]["message"].startswith("Bild 2 av 2 (efter ”"), key
        assert len(headings) == (0 if key.endswith(".odt") else 1), key
        view = partner_view(LocalStorage(inbox), LocalStorage(out), config, partner)
        shown = Page()
        shown.feed(render_page(config, "partner.html.j2", received=None, error=None, chosen=None,
                               **view))
        lines = [line for line in "".join(shown.text).splitlines() if "saknar beskrivning" in line]
        assert lines == ["Bild 2 av 2 saknar beskrivning (alternativtext). Lägg till en (i Word: högerklicka på "
                         "bilden och välj ”Redigera alternativtext”) och ladda upp rapporten igen."], partner
    with zipfile.ZipFile(out / "review" / "myrorna" / "1.4.docx") as commented:
        comments = commented.read("word/comments.xml").decode("utf-8")
    assert comments.count("Redigera alternativtext") == 1
    others = [json.loads(p.read_text(encoding="utf-8")) for p in (out / "review").glob("*/*.json")]
    assert sum(f["rule_id"] == RULE_ALT for r in others for f in r["findings"]) == 3  # the sample has no images
    manifest = json.loads((draft / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["accessibility"] == {"images_without_alt": 3, "heading_skips": 2, "pdf_standard": "PDF/UA-1"}


def test_axe_finds_nothing_on_the_html_draft_in_chromium(built, chromium, axe_script):
    sync_api = pytest.importorskip("playwright.sync_api")
    from tests.test_browser import CHROMIUM_FLAGS

    _, _, draft = built
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[f for f in CHROMIUM_FLAGS if f != "--headless"])
        try:
            for width in (1280, 320):  # a laptop and a phone: wide tables scroll in their own region
                page = browser.new_context(viewport={"width": width, "height": 800}, bypass_csp=True).new_page()
                page.goto((draft / "utkast.html").as_uri())
                assert page.locator("img[alt='Bild utan beskrivning']").count() == 3
                assert axe_violations(page, axe_script) == [], width
        finally:
            browser.close()
