"""The language review inside the flows: outputs per report, tracker and manifest, caching,
a checker that is unavailable (the draft is still published and says what is pending), the
server path, and ``utkast review FILE``."""

from __future__ import annotations

import io
import json

import pytest
from docx import Document

from tests.builders import make_docx, put
from tests.lt_server import LanguageToolStandIn
from tests.test_review import PLANTED
from tests.test_review_server import closed_port_url


@pytest.fixture
def inbox(tmp_path):
    root = tmp_path / "inbox"
    put(root, "myrorna/1.3 Kvalitet.docx", make_docx(PLANTED, heading="Kvalitet i butiken"))
    put(root, "verdandi/4.2 Motiv.md", "# Motiv\n\nVerdandi driver butiker för att skapa gemenskap gemenskap i Växjö.\n")
    put(root, "forum/5.1 April.txt", "Mötet i april enades om kriterier för Coompanion och Kooptjänst.")
    return root


def _json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _text(docx_path) -> str:
    return "\n".join(p.text for p in Document(docx_path).paragraphs)


def test_build_reviews_every_report_once_and_reports_findings(prefect_harness, inbox, tmp_path, monkeypatch):
    from flows.build import build_draft

    monkeypatch.delenv("LANGUAGETOOL_URL", raising=False)
    out = tmp_path / "outputs"
    result = build_draft(inbox=str(inbox), out=str(out), formats=["docx"])
    assert result["published"] and result["pending_reviews"] == []

    review = _json(out / "review/myrorna/1.3.json")
    assert [(f["text"], f["rule_id"]) for f in review["findings"]] == [
        ("har har", "WORD_REPEAT_RULE"), ("  ", "WHITESPACE_RULE"), (" ,", "COMMA_PARENTHESIS_WHITESPACE"),
        ("butikenn", "HUNSPELL_RULE")]
    for f in review["findings"]:
        assert review["text"][f["offset"]:f["offset"] + f["length"]] == f["text"]
    assert [f["text"] for f in _json(out / "review/verdandi/4.2.json")["findings"]] == ["gemenskap gemenskap"]
    assert _json(out / "review/forum/5.1.json")["findings"] == []
    comments = list(Document(out / "review/myrorna/1.3.docx").comments)
    assert [c.author for c in comments] == ["Språkgranskning (utkast)"] * 4
    assert "Möjligt skrivfel" in (out / "review/myrorna/1.3.html").read_text(encoding="utf-8")

    status = _json(out / "status.json")
    assert status["cells"]["myrorna/1.3"]["review"]["findings"] == 4
    assert status["cells"]["forum/5.1"]["review"]["findings"] == 0
    assert 'href="review/myrorna/1.3.html"' in (out / "status.html").read_text(encoding="utf-8")
    manifest = _json(out / "drafts" / result["version"] / "manifest.json")
    reviews = {f"{r['partner']}/{r['piece']}": r["review"] for r in manifest["reports"]}
    assert reviews["myrorna/1.3"]["findings"] == 4 and reviews["myrorna/1.3"]["by_severity"] == {
        "fel": 2, "varning": 2, "tips": 0}
    assert manifest["pending_reviews"] == []

    stamp = (out / "review/myrorna/1.3.json").stat().st_mtime_ns
    again = build_draft(inbox=str(inbox), out=str(out), formats=["docx"])
    assert not again["published"]
    assert (out / "review/myrorna/1.3.json").stat().st_mtime_ns == stamp  # not reviewed twice


def test_unavailable_checker_still_publishes_and_the_next_run_reviews(prefect_harness, inbox, tmp_path,
                                                                     monkeypatch, capsys):
    from flows.build import build_draft
    from flows.cli import main

    out = tmp_path / "outputs"
    monkeypatch.setenv("LANGUAGETOOL_URL", closed_port_url())
    first = build_draft(inbox=str(inbox), out=str(out), formats=["docx"])

    assert first["published"]
    assert first["pending_reviews"] == ["1.3 Myrorna", "4.2 Verdandi", "5.1 Forum"]
    front = _text(out / "drafts" / first["version"] / "utkast.docx")
    assert "Språkgranskning väntar för: 1.3 Myrorna, 4.2 Verdandi, 5.1 Forum." in front
    status = _json(out / "status.json")
    assert status["cells"]["myrorna/1.3"]["review"]["pending"] is True
    assert "granskning väntar" in (out / "status.html").read_text(encoding="utf-8")
    manifest = _json(out / "drafts" / first["version"] / "manifest.json")
    assert manifest["pending_reviews"] == ["1.3 Myrorna", "4.2 Verdandi", "5.1 Forum"]
    assert all(r["review"]["pending"] for r in manifest["reports"])
    assert not (out / "review").exists()
    assert main(["status", "--out", str(out)]) == 0
    assert "Myrorna: mottagen, granskning väntar" in capsys.readouterr().out

    monkeypatch.delenv("LANGUAGETOOL_URL")
    second = build_draft(inbox=str(inbox), out=str(out), formats=["docx"])
    assert second["published"] and second["pending_reviews"] == []
    assert "Språkgranskning väntar" not in _text(out / "drafts" / second["version"] / "utkast.docx")
    assert _json(out / "status.json")["cells"]["myrorna/1.3"]["review"]["findings"] == 4
    assert (out / "review/verdandi/4.2.docx").exists()


def test_no_review_skips_the_review(prefect_harness, inbox, tmp_path):
    from flows.intake import intake

    out = tmp_path / "outputs"
    result = intake(inbox=str(inbox), out=str(out), review=False)
    assert result["reports"] == 3 and result["pending_reviews"] == []
    assert not (out / "review").exists()
    assert _json(out / "status.json")["cells"]["myrorna/1.3"]["review"] is None


def test_reviews_through_a_languagetool_server(prefect_harness, inbox, tmp_path, monkeypatch):
    from flows.intake import intake

    server = LanguageToolStandIn().start()
    try:
        monkeypatch.setenv("LANGUAGETOOL_URL", server.url)
        out = tmp_path / "outputs"
        result = intake(inbox=str(inbox), out=str(out))
        assert result["pending_reviews"] == []
        review = _json(out / "review/myrorna/1.3.json")
        assert [f["text"] for f in review["findings"]] == ["har har", "  ", " ,", "butikenn"]
        assert review["engine"] == f"LanguageTool-server {server.url}"
        sent = "\n".join(r["text"] for r in server.requests)
        assert "Vi har har många deltagare" in sent and "gemenskap gemenskap" in sent
    finally:
        server.stop()


def test_utkast_review_prints_the_findings_of_one_file(tmp_path, capsys):
    from flows.cli import main

    path = tmp_path / "1.3 Kvalitet.docx"
    path.write_bytes(make_docx(PLANTED))
    assert main(["review", str(path), "--out", str(tmp_path / "granskning")]) == 0
    printed = capsys.readouterr().out
    assert "Språkgranskning av 1.3 Kvalitet.docx: 4 påpekanden (2 fel, 2 varningar)" in printed
    assert "Stycke 1, tecken 80–86: ”har har”" in printed
    assert "Stycke 1, tecken 105–106: ”␣␣”" in printed
    assert "Förslag: ”butiken”" in printed
    assert "Kooptjänst" not in printed.split("Vi har har")[0]  # the names themselves are no finding
    doc = Document(io.BytesIO((tmp_path / "granskning" / "1.3 Kvalitet.granskning.docx").read_bytes()))
    assert len(list(doc.comments)) == 4

    assert main(["review", str(path), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["counts"]["total"] == 4 and body["findings"][0]["offset"] == 79


def test_utkast_review_reads_a_file_it_converts_first(tmp_path, capsys):
    """HTML, RTF (and any format without a reader of its own in the review) are reviewed in their
    normalised text: the file is converted on the way, as intake would."""
    from flows.cli import main

    path = tmp_path / "4.2 Motiv.html"
    path.write_text("<h1>Motiv</h1><p>Vi har har många deltagare i butiken.</p>", encoding="utf-8")
    assert main(["review", str(path)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Språkgranskning av 4.2 Motiv.html: ") and "”har har”" in printed


def test_reviewing_the_hostile_inbox_fetches_nothing_and_leaks_nothing(prefect_harness, tmp_path, monkeypatch):
    """The review reads partner files itself (Word, ODT, Markdown): the same hostile inbox as
    tests/test_hostile.py, this time with the review on."""
    from flows.cli import main
    from tests.hostile import (
        CountingServer,
        active_html,
        find_token,
        hostile_cases,
        make_canary,
        write_inbox,
    )

    monkeypatch.delenv("LANGUAGETOOL_URL", raising=False)
    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    canary = make_canary(tmp_path / "elsewhere")
    with CountingServer() as server:
        write_inbox(inbox, hostile_cases(canary, server.url))
        assert main(["build", "--inbox", str(inbox), "--out", str(out), "--formats", "docx"]) == 0
        assert list(server.requests) == []
    status = _json(out / "status.json")
    reviewed = {k for k, c in status["cells"].items() if c["state"] != "rejected"}
    assert reviewed and all(status["cells"][k]["review"]["pending"] is False for k in reviewed)
    pages = sorted((out / "review").rglob("*.html"))
    assert len(pages) == len(reviewed)
    for page in pages:
        assert active_html(page.read_text(encoding="utf-8")) == [], page
    assert find_token(out / "review", canary.token) == []


def test_a_file_uploaded_during_the_review_gets_its_verdict_from_the_next_run(prefect_harness, inbox, tmp_path,
                                                                              monkeypatch):
    """An inbox-watch run (``hand_over``) that sees a new file while it reviews stops after the
    report in hand once the file has waited ``hand_over`` seconds (0 here); the run the file
    started gives it its verdict at once and reviews the rest.
    No report is reviewed twice and none is left without a review."""
    import threading
    from functools import partial

    import flows.intake
    import flows.review
    from flows.intake import intake
    from tasks.intake.inbox import Arrivals

    monkeypatch.delenv("LANGUAGETOOL_URL", raising=False)
    put(inbox, "myrorna/1.1 Översikt.md", "# Översikt\n\nMyrorna har butiker i hela landet landet.\n")
    monkeypatch.setattr(flows.intake, "Arrivals", partial(Arrivals, every=0))  # list the inbox at every ask
    real, lock, reviewed = flows.review.review_one, threading.Lock(), []

    def a_partner_uploads_meanwhile(inbox_store, out_store, todo, *rest):
        with lock:
            if not reviewed:
                put(inbox, "verdandi/2.1 Samverkan.txt", "Verdandi samverkar med kommunen kring praktik.")
            reviewed.append(todo[0])
        return real(inbox_store, out_store, todo, *rest)

    monkeypatch.setattr(flows.review, "review_one", a_partner_uploads_meanwhile)
    out = tmp_path / "outputs"
    first = intake(inbox=str(inbox), out=str(out), hand_over=0)  # the next run: there at once
    status = _json(out / "status.json")
    assert first["reports"] == 4 and "verdandi/2.1" not in status["cells"]  # listed before it came
    left = sorted(first["pending_reviews"])
    assert 1 <= len(left) <= 3 and len(reviewed) == 4 - len(left)  # at least one report reviewed per batch
    for label in left:
        piece, name = label.split(" ", 1)
        slug = {"Myrorna": "myrorna", "Verdandi": "verdandi", "Forum": "forum"}[name]
        assert status["cells"][f"{slug}/{piece}"]["review"]["pending"] is True
    assert "granskning väntar" in (out / "status.html").read_text(encoding="utf-8")

    second = intake(inbox=str(inbox), out=str(out), hand_over=0)
    status = _json(out / "status.json")
    assert second["reports"] == 5 and second["pending_reviews"] == []
    assert status["cells"]["verdandi/2.1"]["state"] == "received"
    assert status["cells"]["verdandi/2.1"]["review"]["findings"] == 0
    assert status["cells"]["myrorna/1.1"]["review"]["findings"] == 1  # "landet landet"
    assert sorted(reviewed) == sorted(set(reviewed)) and len(reviewed) == 5  # each report once
