"""A build over reports with planted personal data: the draft, sections, reviewers' page,
tracker, manifest, command output, logs and artifacts hold none of it; the coordinator sees
kinds and counts; with ``action = "stop"`` nothing is published."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import zipfile
from collections import Counter

import pytest
from docx import Document

from tests.builders import docx_from_markdown, make_docx, put
from tests.hostile import find_token
from tests.test_personal import FOUND, NOT_PERSONAL, PLANTED, REPORT_MD, copy_templates

# Every value below is valid (check digit, date, number type): each must be masked.
DOCX_TABLE = [["Deltagare", "Telefon", "E-post"],
              ["Lena Berg", "076-555 12 34", "lena.berg@exempel.se"]]
MORE = {
    "stadsmissionen/2.1 Stöd.docx": make_docx(
        ["Praktikanten Lena Berg (19900307-1231) har gått vidare till en anställning.",
         "Hon bor på Sveavägen 44, 111 34 Stockholm."], heading="Stöd och matchning", table=DOCX_TABLE),
    "roda-korset/3.1 Vägen.md": (
        "Praktikanten Jonas Holm, 200402295554, fick jobb i juni.[^1]\n\n"
        "[^1]: Jonas nås på jonas.holm@exempel.se eller 08-765 432 10.\n"),
    "verdandi/4.2 Motiv.txt": "Kontakta deltagaren Elin Strand på 070-765 43 21 eller elin.strand@exempel.se.\n",
    "forum/5.1 April.odt": docx_from_markdown(
        "Mötet i april.[^1]\n\n| Namn | Telefon |\n|---|---|\n| Per Olsson | 0733-12 34 56 |\n\n"
        "[^1]: Brukaren Per Olsson, 920412-1231, bor på Kungsgatan 5, 411 19 Göteborg.\n", "odt"),
}
MORE_PLANTED = ["Lena Berg", "19900307-1231", "Sveavägen 44", "111 34 Stockholm", "076-555 12 34",
                "lena.berg@exempel.se", "Jonas Holm", "Jonas", "200402295554", "jonas.holm@exempel.se",
                "08-765 432 10", "Elin Strand", "070-765 43 21", "elin.strand@exempel.se", "Per Olsson",
                "0733-12 34 56", "920412-1231", "Kungsgatan 5, 411 19 Göteborg"]
ALL_PLANTED = PLANTED + MORE_PLANTED
# Where the partner's own text may stay: the normalised text (for the partner-side review),
# the cache of the pipeline and the partners' review reports (only they and the coordinator read them).
PRIVATE = ("normalised/", "cache/", "review/")


def write_inbox(root):
    put(root, "myrorna/1.3 Arbetsträning.docx", docx_from_markdown(REPORT_MD))
    for key, data in MORE.items():
        put(root, key, data)


def run_cli(argv) -> tuple[int, str]:
    from flows.cli import main

    printed = io.StringIO()
    handler = logging.StreamHandler(printed)
    logging.getLogger().addHandler(handler)
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            code = main(argv)
    finally:
        logging.getLogger().removeHandler(handler)
    return code, printed.getvalue()


def prefect_records() -> str:
    """Every log line and artifact the Prefect server holds (this session's runs)."""
    from prefect.client.orchestration import get_client

    texts = []
    with get_client(sync_client=True) as client:
        for read in (client.read_logs, client.read_artifacts):
            offset = 0
            while True:
                batch = read(limit=200, offset=offset)
                texts += [item.model_dump_json() for item in batch]
                if len(batch) < 200:
                    break
                offset += 200
    return "\n".join(texts)


@pytest.fixture(scope="module")
def masked_build(prefect_harness, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("personal")
    inbox, out = tmp / "inbox", tmp / "outputs"
    write_inbox(inbox)
    # The five reports are scanned in worker processes, as a large inbox is (tasks/personal/);
    # the stop test below and tests/test_personal.py scan in the calling process.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tasks.personal.scan.PARALLEL_SCAN_FROM", 2)
        code, printed = run_cli(["build", "--inbox", str(inbox), "--out", str(out)])
    return {"code": code, "printed": printed, "out": out, "tmp": tmp}


def draft_dir(out):
    return out / "drafts" / json.loads((out / "drafts/latest.json").read_text(encoding="utf-8"))["version"]


def test_the_draft_holds_the_masks_and_what_is_not_personal_data(masked_build):
    assert masked_build["code"] == 0, masked_build["printed"]
    draft = Document(draft_dir(masked_build["out"]) / "utkast.docx")
    paragraphs = [p.text for p in draft.paragraphs]
    cells = [c.text for t in draft.tables for row in t.rows for c in row.cells]
    text = "\n".join(paragraphs + cells)
    assert "Myrorna: Arbetsträning med deltagaren [namn borttaget]" in paragraphs
    assert "Deltagaren [namn borttaget] ([personnummer borttaget]) började hos oss i mars." in text
    assert "Praktikanten [namn borttaget] ([personnummer borttaget]) har gått vidare" in text
    assert "Hon bor på [adress borttagen]." in text
    assert "Kontakta deltagaren [namn borttaget] på [telefonnummer borttaget] eller [e-postadress borttagen]." in text
    rows = [[c.text for c in row.cells] for t in draft.tables for row in t.rows]
    assert ["[namn borttaget]", "[telefonnummer borttaget]", "[e-postadress borttagen]"] in rows
    assert ["[namn borttaget]", "[telefonnummer borttaget]"] in rows
    for value in NOT_PERSONAL:
        assert value in text
    with zipfile.ZipFile(draft_dir(masked_build["out"]) / "utkast.docx") as z:
        footnotes = z.read("word/footnotes.xml").decode("utf-8")
    assert "Enligt brukaren [namn borttaget], samordningsnummer [samordningsnummer borttaget]" in footnotes


def test_no_planted_value_reaches_any_file_outside_the_private_folders(masked_build):
    out = masked_build["out"]
    leaks = {value: [hit for hit in find_token(out, value) if not hit.startswith(PRIVATE)] for value in ALL_PLANTED}
    assert {value: hits for value, hits in leaks.items() if hits} == {}
    # The search works: the partner's original text is kept for the partner-side review.
    hits = find_token(out, "811218-9876")
    assert "normalised/myrorna/1.3.md" in hits and all(hit.startswith(PRIVATE) for hit in hits)
    assert (out / "sections/paket-1.md").exists() and any((draft_dir(out)).glob("utkast.pdf"))


def test_the_command_output_logs_and_artifacts_show_kinds_and_counts_only(masked_build):
    printed = masked_build["printed"]
    assert "Personal data masked in the draft (the partners' review reports show where):" in printed
    assert ("  1.3 Myrorna: 7 namn, 5 telefonnummer, 3 personnummer, 2 adresser, 1 e-postadress, "
            "1 samordningsnummer") in printed
    records = prefect_records()
    assert "Personuppgifter" in records and "3 personnummer" in records
    for value in ALL_PLANTED:
        assert value not in printed
        assert value not in records and json.dumps(value)[1:-1] not in records


def test_the_tracker_and_the_manifest_count_personal_data_per_report(masked_build):
    out = masked_build["out"]
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    personal = {slot: cell["personal"]["total"] for slot, cell in status["cells"].items() if cell.get("personal")}
    assert personal == {"myrorna/1.3": 19, "stadsmissionen/2.1": 6, "roda-korset/3.1": 5, "verdandi/4.2": 3,
                        "forum/5.1": 5}
    assert status["cells"]["myrorna/1.3"]["personal"]["places"][:2] == ["titeln: namn",
                                                                       "stycke 1: namn, personnummer"]
    html = (out / "status.html").read_text(encoding="utf-8")
    assert '<small class="personal"' in html and "19 pu" in html
    assert "Personuppgifterna är maskerade i utkastet" in html
    manifest = json.loads((draft_dir(out) / "manifest.json").read_text(encoding="utf-8"))
    by_slot = {f"{r['partner']}/{r['piece']}": r["personal_data"] for r in manifest["reports"]}
    assert by_slot["verdandi/4.2"]["by_kind"] == {"e-postadress": 1, "namn": 1, "telefonnummer": 1}


def personal_findings(out, slot) -> list[dict]:
    body = json.loads((out / f"review/{slot}.json").read_text(encoding="utf-8"))
    return [f for f in body["findings"] if f["category_name"] == "Personuppgifter"]


def word_comments(path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        xml = z.read("word/comments.xml").decode("utf-8")
    from lxml import etree

    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    root = etree.fromstring(xml.encode("utf-8"))
    return ["\n".join("".join(t.text or "" for t in p.iter(f"{w}t")) for p in c.iter(f"{w}p"))
            for c in root.iter(f"{w}comment")]


def test_the_partners_review_report_points_to_each_value_and_comments_it_in_their_document(masked_build):
    out = masked_build["out"]
    found = personal_findings(out, "myrorna/1.3")
    # Everything the draft masks, title (the document's heading) and footnote included.
    assert Counter((f["personal"]["kind"], f["personal"]["value"]) for f in found) == Counter(
        (kind, value) for _, kind, value in FOUND)
    in_note = [(f["personal"]["place"], f["personal"]["value"], f["text"]) for f in found if f["personal"]["place"]]
    assert in_note == [("fotnot 1", "Mehmet Yilmaz", "kassan."), ("fotnot 1", "701063-2391", "kassan."),
                       ("fotnot 1", "073-987 65 43", "kassan.")]
    table = [f["text"] for f in found if f["paragraph"] in {f2["paragraph"] for f2 in found if f2["text"] == "Sara Lind"}]
    assert table == ["Sara Lind"]
    comments = [c for c in word_comments(out / "review/myrorna/1.3.docx") if c.startswith("Personuppgift")]
    assert len(comments) == len(FOUND)
    assert any(c.startswith("Personuppgift: personnummer ”811218-9876”. Den får inte stå i rapporten; i utkastet "
                            "som granskarna läser är den ersatt med ”[personnummer borttaget]”.") for c in comments)
    assert any(c.startswith("Personuppgift (fotnot 1): samordningsnummer ”701063-2391”") for c in comments)
    html = (out / "review/myrorna/1.3.html").read_text(encoding="utf-8")
    assert "Personuppgifter i rapporten" in html and "19 personuppgifter" in html
    # The other formats: a Word table, a Markdown footnote, plain text.
    assert [(f["personal"]["kind"], f["personal"]["value"]) for f in personal_findings(out, "stadsmissionen/2.1")] == [
        ("namn", "Lena Berg"), ("personnummer", "19900307-1231"), ("adress", "Sveavägen 44, 111 34 Stockholm"),
        ("namn", "Lena Berg"), ("telefon", "076-555 12 34"), ("epost", "lena.berg@exempel.se")]
    assert [(f["personal"]["kind"], f["personal"]["value"]) for f in personal_findings(out, "roda-korset/3.1")] == [
        ("namn", "Jonas Holm"), ("personnummer", "200402295554"), ("namn", "Jonas"),
        ("epost", "jonas.holm@exempel.se"), ("telefon", "08-765 432 10")]
    assert len(word_comments(out / "review/verdandi/4.2.docx")) >= 3
    assert sorted((f["personal"]["kind"], f["personal"]["value"]) for f in personal_findings(out, "forum/5.1")) == [
        ("adress", "Kungsgatan 5, 411 19 Göteborg"), ("namn", "Per Olsson"), ("namn", "Per Olsson"),
        ("personnummer", "920412-1231"), ("telefon", "0733-12 34 56")]


def test_an_unchanged_inbox_publishes_nothing_new(masked_build):
    out = masked_build["out"]
    code, printed = run_cli(["build", "--inbox", str(masked_build["tmp"] / "inbox"), "--out", str(out)])
    assert code == 0 and "Nothing new since draft" in printed


def test_stop_publishes_nothing_and_says_which_reports(prefect_harness, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    copy_templates(templates)
    settings = templates / "settings.toml"
    settings.write_text(settings.read_text(encoding="utf-8").replace('action = "mask"', 'action = "stop"'),
                        encoding="utf-8")
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "coompanion/4.1 Villkor.docx", make_docx(["Villkoren för att driva verksamheten är tuffa."]))
    put(inbox, "verdandi/4.2 Motiv.txt", MORE["verdandi/4.2 Motiv.txt"])
    args = ["build", "--inbox", str(inbox), "--out", str(out), "--no-review", "--templates", str(templates)]
    code, printed = run_cli(args)
    assert code == 5
    assert "utkast: no draft published: personal data found in 4.2 Verdandi" in printed
    assert not (out / "drafts/latest.json").exists() and not (out / "sections").exists()
    html = (out / "status.html").read_text(encoding="utf-8")
    assert "Inget nytt utkast publiceras förrän personuppgifterna är borttagna" in html
    assert "4.2 Verdandi: 1 e-postadress, 1 namn, 1 telefonnummer (stycke 1: namn, telefonnummer, e-postadress)" in html
    for value in ["Elin Strand", "070-765 43 21", "elin.strand@exempel.se"]:
        assert value not in printed
        assert [hit for hit in find_token(out, value) if not hit.startswith(PRIVATE)] == []
    # The partner removes it: the next build publishes.
    put(inbox, "verdandi/4.2 Motiv.txt", "Kontakta handledaren via Verdandis växel.\n")
    code, printed = run_cli(args)
    assert code == 0 and "published" in printed


def test_after_the_rules_grow_the_new_draft_and_its_changes_page_hide_what_the_old_draft_showed(
        prefect_harness, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    copy_templates(templates)
    rules = templates / "personuppgifter.toml"
    original = rules.read_text(encoding="utf-8")
    # At first "praktikanten" is not a marker word: the name is published.
    rules.write_text(original.replace('"praktikant", "praktikanten", ', ""), encoding="utf-8")
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "verdandi/4.2 Motiv.txt", "Det gick bra, sa praktikanten Nora Lund. Nora började i maj.\n")
    args = ["build", "--inbox", str(inbox), "--out", str(out), "--no-review", "--templates", str(templates)]
    assert run_cli(args)[0] == 0
    first = draft_dir(out)
    assert "Nora Lund" in (first / "paragraphs.json").read_text(encoding="utf-8")
    rules.write_text(original, encoding="utf-8")
    code, printed = run_cli(args)
    assert code == 0 and "published" in printed
    second = draft_dir(out)
    assert second != first
    assert "Det gick bra, sa praktikanten [namn borttaget]. [namn borttaget] började i maj." in [
        p["text"] for p in json.loads((second / "paragraphs.json").read_text(encoding="utf-8"))["paragraphs"]]
    for value in ("Nora Lund", "Nora"):
        assert find_token(second, value) == []
        assert [hit for hit in find_token(out, value) if not hit.startswith(PRIVATE)] == [
            hit for hit in find_token(out, value) if hit.startswith(f"drafts/{first.name}/")]
